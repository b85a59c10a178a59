"""Site policy for every host (pyinfra group data). Each value below is the default; change what
your site needs. Full descriptions: README.md, "Settings".

Never put passwords here: SSH uses keys (ssh_key / ssh_config), and no setting needs a secret.
"""

# What to install (the planner's SitePolicy)
labtorch_torch_spec = "latest"  # "latest", "2.7", "==2.7.1", ">=2.5,<2.8"
labtorch_python = None  # None: newest Python the release supports, capped at python_max
labtorch_python_max = "3.12"
labtorch_mirror = "official"  # a row of data/mirrors.yaml: official, tuna, bfsu, aliyun, ustc, ...
labtorch_pytorch_index_url = None  # your own PyTorch wheel index, with {variant}
labtorch_pypi_index_url = None  # your own PyPI index (simple API)
labtorch_driver_floor = "minor"  # "minor" (CUDA minor-version compatibility) or "toolkit"
labtorch_allow_cpu = True  # plan a CPU build where no GPU build fits (with a warning)
labtorch_include_torchvision = True
labtorch_include_torchaudio = True
labtorch_lock_file = None  # e.g. "locks/room1.yaml" (docs/release-data.md)
labtorch_lock_newer_is_drift = False  # True: the check reports a newer release as drift

# Where and how
labtorch_env_name = "pytorch"
labtorch_conda_flavor = "miniforge"  # or "miniconda"
labtorch_conda_version = None  # None: the pinned default of data/installers.yaml
labtorch_install_scope = "all"  # "all": /opt/<flavor>; "user": ~/<flavor> of the SSH user
labtorch_conda_prefix = None  # None: derived from the scope; ASCII, no spaces
labtorch_installer_mirror = None  # a directory URL serving the pinned installer file
labtorch_installer_sha256 = None  # None: data/installers.yaml; set it for other builds
labtorch_adopt_conda = False  # use a complete conda install labtorch did not make
labtorch_accept_defaults_tos = False  # Miniconda only: accept Anaconda's ToS for `defaults`
labtorch_conda_channels = ("conda-forge",)
labtorch_conda_channel_url = None  # None: the mirror row's conda_cloud (official: anaconda.org)
labtorch_condarc_mode = "persistent"  # or "per-command" (-c <mirror> on each conda command)
labtorch_kernel_scope = "all"  # "all": /usr/local/share/jupyter; "user": ~/.local/share/jupyter
labtorch_kernel_name = None  # None: the env name
labtorch_kernel_display_name = None  # None: "Python (<env name>)"
labtorch_ipykernel_spec = "ipykernel"
labtorch_pip_extra_args = ()  # e.g. ("--no-compile",)
labtorch_min_free_mib = 8192  # refuse to start a conda install with less free disk
labtorch_os = None  # None: detect; "windows" for hosts where uname does not exist
