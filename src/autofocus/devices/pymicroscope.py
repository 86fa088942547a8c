"""python-microscope: one axis of a ``microscope.abc.Stage`` and a ``microscope.abc.Camera``.

Each may be a local device object or a Pyro proxy to python-microscope's ``device-server``
(``PYRO:Name@host:port``). The adapters differ from python-microscope's own conventions in two
deliberate ways, both for the sample's safety:

* python-microscope *clips* a move beyond an axis' limits silently; here such a move is refused
  with :class:`LimitError` before anything is commanded.
* python-microscope does not say whether ``move_to`` returns before the axis arrives; here a move
  returns only once the reported position is within ``tolerance_um`` of the target (or raises
  :class:`StageError` after ``timeout_s``).

Requires ``microscope>=0.7`` and ``Pyro4`` (``pip install -e '.[pymicroscope]'`` in the clone).
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from autofocus.clock import SystemClock
from autofocus.devices.base import Microscope, TwoAxisXYStage
from autofocus.errors import CameraError, InputError, LimitError, StageError, install_hint
from autofocus.frames import Frame

try:
    import Pyro4
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"autofocus.devices.pymicroscope needs python-microscope: {install_hint('pymicroscope')}"
    ) from exc

__all__ = ["PyMicroscopeCamera", "PyMicroscopeStage", "PyMicroscopeXYStage", "connect", "open_pymicroscope"]

T = TypeVar("T")
POLL_S = 0.005


def connect(uri: str, timeout_s: float = 10.0) -> Any:
    """A Pyro proxy to a device served by python-microscope's ``device-server``.

    The device-server replies with pickle (it carries numpy arrays); this proxy asks for pickle
    itself instead of changing Pyro's global configuration.
    """
    proxy = Pyro4.Proxy(uri)
    _configure_proxy(proxy, timeout_s)
    return proxy


def _configure_proxy(proxy: Any, timeout_s: float) -> None:
    proxy._pyroSerializer = "pickle"
    proxy._pyroTimeout = timeout_s


def _is_proxy(obj: object) -> bool:
    return isinstance(obj, Pyro4.Proxy)


def _call(error: type[Exception], what: str, action: Callable[[], T]) -> T:
    """One device call; python-microscope and Pyro failures become our ``error``."""
    try:
        return action()
    except Exception as exc:  # device errors, Pyro errors and remote exceptions of any kind
        raise error(f"python-microscope: {what} failed: {exc}") from exc


class PyMicroscopeStage:
    """One axis of a python-microscope stage as our focus :class:`Stage`.

    ``unit_um`` is how many micrometres one device unit is (python-microscope leaves stage units
    to each device; most focus drives use micrometres). ``axis=None`` picks the only axis of a
    single-axis stage.
    """

    def __init__(
        self,
        stage: Any,
        axis: str | None = None,
        *,
        unit_um: float = 1.0,
        tolerance_um: float = 0.1,
        timeout_s: float = 10.0,
    ) -> None:
        if not unit_um > 0:
            raise InputError("unit_um must be positive")
        self._stage = stage
        self._axis_name, self._axis = self._pick_axis(stage, axis, timeout_s)
        self._unit = unit_um
        self._tolerance = tolerance_um
        self._timeout = timeout_s

    @staticmethod
    def _pick_axis(stage: Any, name: str | None, timeout_s: float) -> tuple[str, Any]:
        axes: dict[str, Any] = dict(_call(StageError, "reading the stage's axes", lambda: stage.axes))
        if name is None:
            if len(axes) != 1:
                raise InputError(f"the stage has axes {sorted(axes)}: say which one focuses (axis=...)")
            name = next(iter(axes))
        if name not in axes:
            raise InputError(f"the stage has no axis {name!r}; it has {sorted(axes)}")
        axis = axes[name]
        if _is_proxy(axis):  # served axes arrive as fresh proxies with Pyro's global defaults
            _configure_proxy(axis, timeout_s)
        return name, axis

    @property
    def axis(self) -> str:
        return self._axis_name

    @property
    def limits_um(self) -> tuple[float, float]:
        limits = _call(StageError, f"reading axis {self._axis_name!r} limits", lambda: self._axis.limits)
        return float(limits[0]) * self._unit, float(limits[1]) * self._unit

    def position_um(self) -> float:
        position = _call(StageError, f"reading axis {self._axis_name!r}", lambda: self._axis.position)
        return float(position) * self._unit

    def move_to_um(self, z_um: float) -> None:
        lo, hi = self.limits_um
        if not lo <= z_um <= hi:
            raise LimitError(
                f"python-microscope: {z_um:.3f} um is outside axis {self._axis_name!r} "
                f"limits {lo:.3f}..{hi:.3f} um (the device would clip it silently)"
            )
        target = z_um / self._unit
        _call(StageError, f"move_to({target:g})", lambda: self._axis.move_to(target))
        self._wait_until_at(z_um)

    def _wait_until_at(self, z_um: float) -> None:
        deadline = time.monotonic() + self._timeout
        while abs((position := self.position_um()) - z_um) > self._tolerance:
            if time.monotonic() > deadline:
                raise StageError(
                    f"python-microscope: axis {self._axis_name!r} at {position:.3f} um did not reach "
                    f"{z_um:.3f} um within {self._timeout:g} s"
                )
            time.sleep(POLL_S)

    def stop(self) -> None:
        """python-microscope's stage interface has no stop; moves here have already finished."""


class PyMicroscopeXYStage(TwoAxisXYStage):
    """Two axes of a python-microscope stage (default ``x`` and ``y``) as our :class:`XYStage`;
    each is a :class:`PyMicroscopeStage`, so limits are refused rather than clipped (both before
    either axis moves) and every move waits until the axis arrives. X moves first, then Y."""

    def __init__(self, stage: Any, x_axis: str = "x", y_axis: str = "y", *, unit_um: float = 1.0,
                 tolerance_um: float = 0.1, timeout_s: float = 10.0) -> None:
        x, y = (PyMicroscopeStage(stage, name, unit_um=unit_um, tolerance_um=tolerance_um,
                                  timeout_s=timeout_s) for name in (x_axis, y_axis))
        super().__init__(x, y, "python-microscope", (x_axis, y_axis))


class PyMicroscopeCamera:
    """A python-microscope camera as our :class:`Camera`, software-triggered one frame at a time.

    The camera is enabled on first use if it is not (enabling a camera moves nothing). A local
    camera delivers into a private queue, so a missing frame times out after ``timeout_s``; a
    served camera is read with ``grab_next_data`` under the Pyro call timeout.
    """

    def __init__(self, camera: Any, *, timeout_s: float = 10.0) -> None:
        self._camera = camera
        self._timeout = timeout_s
        if _is_proxy(camera):
            _configure_proxy(camera, timeout_s)

    @property
    def exposure_s(self) -> float:
        exposure = _call(CameraError, "get_exposure_time", self._camera.get_exposure_time)
        return float(exposure or 0.0)  # the base class may return None when a device has no idea

    def grab(self) -> Frame:
        if not _call(CameraError, "get_is_enabled", self._camera.get_is_enabled):
            _call(CameraError, "enable", self._camera.enable)
        data = self._grab_remote() if _is_proxy(self._camera) else self._grab_local()
        if isinstance(data, Exception):  # the device-side fetch failed and sent its error instead
            raise CameraError(f"python-microscope: the camera failed to acquire: {data}")
        frame = np.asarray(data)
        if frame.ndim != 2:
            raise CameraError(f"python-microscope: expected a 2-D frame, got shape {frame.shape}")
        return frame

    def _grab_remote(self) -> Any:
        data, _timestamp = _call(CameraError, "grab_next_data", self._camera.grab_next_data)
        return data

    def _grab_local(self) -> Any:
        # python-microscope hands data to any client with a ``put`` method: a queue is one.
        frames: queue.Queue[Any] = queue.Queue()
        with self._client(frames):
            _call(CameraError, "trigger", self._camera.trigger)
            try:
                return frames.get(timeout=self._timeout)
            except queue.Empty:
                raise CameraError(
                    f"python-microscope: no frame within {self._timeout:g} s of the trigger"
                ) from None

    @contextlib.contextmanager
    def _client(self, client: queue.Queue[Any]) -> Iterator[None]:
        _call(CameraError, "set_client", lambda: self._camera.set_client(client))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # the grab's own error is the one to report
                self._camera.set_client(None)


def open_pymicroscope(
    stage: Any,
    camera: Any,
    axis: str | None = None,
    *,
    unit_um: float = 1.0,
    tolerance_um: float = 0.1,
    timeout_s: float = 10.0,
) -> Microscope:
    """Our :class:`Microscope` from python-microscope devices or ``PYRO:`` URIs of served ones.

    Proxies opened here from URIs are released on ``close()``; device objects and proxies the
    caller passed in remain the caller's.
    """
    closers: list[Callable[[], None]] = []
    if isinstance(stage, str):
        stage = connect(stage, timeout_s)
        closers.append(stage._pyroRelease)
    if isinstance(camera, str):
        camera = connect(camera, timeout_s)
        closers.append(camera._pyroRelease)
    try:
        focus = PyMicroscopeStage(stage, axis, unit_um=unit_um, tolerance_um=tolerance_um,
                                  timeout_s=timeout_s)
        grabber = PyMicroscopeCamera(camera, timeout_s=timeout_s)
    except BaseException:
        for close in closers:
            close()
        raise
    return Microscope(focus, grabber, SystemClock(), closers,
                      description=f"python-microscope: axis {focus.axis!r} + camera")
