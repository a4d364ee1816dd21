"""Which kernel runs a notebook's steps: the one its ``metadata.kernelspec``
names, as Jupyter would start it. Preloading (the fork server) is only for a
kernel that is this very interpreter; a kernel that is not installed stops the
run before anything runs, naming the kernel and the fix."""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from cellpipe.model import Diagnostic, Pipeline

#: Jupyter's own Python kernel: always there when ipykernel is installed
NATIVE = "python3"


def kernel_name(kernelspec: dict) -> str:
    """The kernel a notebook's metadata asks for."""
    return str((kernelspec or {}).get("name") or NATIVE)


@lru_cache(maxsize=1)
def _installed() -> dict[str, str]:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().find_kernel_specs()


def installed(name: str) -> bool:
    if name == NATIVE:
        return True
    return name in _installed()


def kernel_diagnostics(pipeline: Pipeline) -> list[Diagnostic]:
    """An error for each notebook whose kernel is not installed here."""
    problems = []
    for nb in pipeline.notebooks:
        name = kernel_name(nb.kernelspec)
        if installed(name):
            continue
        available = ", ".join(sorted(_installed())) or "none"
        problems.append(Diagnostic(
            "error", "CP004",
            f"the notebook's kernel {name!r} ({nb.kernelspec.get('display_name') or name}) is not installed "
            f"(installed kernels: {available})",
            nb.path, None,
            f"install it (for a conda or virtual environment: `python -m ipykernel install --user --name {name}` "
            "run with that environment's Python), or choose an installed kernel for the notebook in Jupyter "
            "(Kernel > Change Kernel) and save it"))
    return problems


@lru_cache(maxsize=8)
def same_interpreter(name: str) -> bool:
    """True when the kernel ``name`` is a Python kernel run by this interpreter
    (so kernels forked from a process of it are the same kernel)."""
    if name == NATIVE and NATIVE not in _installed():
        return True
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec(name)
    except Exception:  # noqa: BLE001 - not installed: not ours
        return False
    argv = list(spec.argv or [])
    if (spec.language or "").lower() != "python" or not argv:
        return False
    exe, rest = argv[0], argv[1:]
    if rest not in (["-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    ["-m", "ipykernel", "-f", "{connection_file}"]):
        return False  # options of its own (interpreter flags, kernel settings): start it as it says
    # jupyter_client runs these names with its own interpreter (KernelManager.format_kernel_cmd)
    if exe in ("python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        return True
    if os.sep not in exe:
        import shutil

        exe = shutil.which(exe) or exe
    return _same_interpreter_file(exe, sys.executable)


def _same_interpreter_file(a: str, b: str) -> bool:
    """The same executable in the same environment: a virtual environment's
    ``bin/python`` links to the system's, yet is another environment."""
    try:
        same = os.path.samefile(a, b)
    except OSError:
        return False
    return same and os.path.dirname(os.path.abspath(a)) == os.path.dirname(os.path.abspath(b))


def kernel_env(name: str) -> dict[str, str]:
    """The environment variables the kernel's spec sets (``env`` in kernel.json)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return dict(KernelSpecManager().get_kernel_spec(name).env or {})
    except Exception:  # noqa: BLE001 - Jupyter's native kernel, or none
        return {}
