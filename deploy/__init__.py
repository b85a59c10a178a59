"""Packaged pyinfra deploys. The room deploy runs from any directory after ``pip install``::

    pyinfra inventory/<room>.py labtorch.deploys.room          # plan table, then provision
    pyinfra inventory/<room>.py labtorch.deploys.room --dry    # plan table, pending changes

pyinfra 3 reads ``labtorch.deploys.room`` as "attribute ``room`` of module
``labtorch.deploys``" (``pyinfra_cli.util.try_import_module_attribute``) and calls it once per
host, as it runs a deploy file. The function lives in :mod:`labtorch.deploys.provision`.
"""

from labtorch.deploys.provision import room

__all__ = ["room"]
