"""The room deploy as a file, for ``pyinfra inventory/<room>.py deploy.py`` from a checkout.

The deploy itself ships in the package (:mod:`labtorch.deploys`); after ``pip install labtorch``
run it from any directory with ``pyinfra inventory/<room>.py labtorch.deploys.room``.
"""

from labtorch.deploys import room

room()
