"""Concurrency backends: who runs the connection driver, and how many at once.

Each backend is one module that reads top to bottom as the course chapter it
stands for. They are named here and imported only when chosen, so that an
optional dependency (gevent) costs nothing unless it is used. A backend of
your own can be named by dotted path instead: ``mypkg.mymodule:MyBackend``.
"""

from __future__ import annotations

import importlib

from reference.backends.base import Backend

#: Short name -> "module:Class". The order is the order of the course.
BACKENDS: dict[str, str] = {
    "serial": "reference.backends.serial:SerialBackend",
    "process": "reference.backends.process:ProcessBackend",
    "thread": "reference.backends.thread:ThreadBackend",
    "gevent": "reference.backends.gevent:GeventBackend",
    "nonblocking": "reference.backends.nonblocking:NonBlockingBackend",
    "epoll": "reference.backends.epoll:EpollBackend",
    "asyncio": "reference.backends.asyncio:AsyncioBackend",
}


class BackendError(Exception):
    """A backend name that cannot be turned into a usable backend class."""


def load_backend(name: str) -> type[Backend]:
    """The backend class for a registered name or a ``module:Class`` path."""
    path = BACKENDS.get(name, name)
    module_name, _, class_name = path.partition(":")
    if not class_name:
        choices = ", ".join(BACKENDS)
        raise BackendError(f"unknown backend {name!r} (choose from {choices}, or module:Class)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == "gevent":
            raise BackendError(
                f"the {name} backend needs gevent: pip install 'h1check[gevent]'"
            ) from None
        raise BackendError(f"cannot import {module_name!r} for backend {name!r}: {error}") from None
    backend = getattr(module, class_name, None)
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise BackendError(f"{path!r} is not a reference.backends.base.Backend subclass")
    return backend
