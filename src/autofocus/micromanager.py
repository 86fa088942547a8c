"""Software autofocus for Micro-Manager (pymmcore-plus).

Two ways in:

* :func:`focus` — one call on any ``CMMCorePlus``: search around the current focus position with
  the core's current focus device and camera, end in focus (or back where it started).
* :class:`SoftwareAutofocus` on an :class:`AutofocusCore` — an AutoFocus *device*, so that
  ``core.fullFocus()`` and an MDA with ``autofocus_plan=AxesBasedAF(...)`` run this package's
  autofocus at each position; returning to a position, it refocuses near the focus found there
  last (:mod:`autofocus.mm_refocus`, which also writes each result into the frame metadata).

Why a core subclass: pymmcore-plus 0.18's ``UniMMCore`` loads pure-Python devices but has no
AutoFocus device base class and sends ``fullFocus``, ``getAutoFocusDevice``, ``setAutoFocusOffset``,
``incrementalFocus``, ... straight to the C++ core, which knows nothing of Python devices. The MDA
engine executes ``useq.HardwareAutofocus`` events with exactly those calls, so :class:`AutofocusCore`
routes them to a Python AutoFocus device when one is current and to C++ otherwise. C++ device
adapters keep working: a real camera and focus drive with the software autofocus is the main use.

Supported: pymmcore-plus 0.18.x (tested on 0.18.1) with useq-schema >= 0.9. The routing uses only
public core methods (``loadPyDevice``, ``isPyDevice``, ``unloadDevice``, the AutoFocus API), and the
device uses only the public ``experimental.unicore.Device`` API. Later versions that add their own
AutoFocus routing are overridden by this subclass for :class:`SoftwareAutofocus` devices only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

from autofocus.devices.micromanager import MMCamera, MMStage, open_core_microscope
from autofocus.errors import AutofocusError, FocusNotFound, InputError, ReasonCode, install_hint
from autofocus.events import EventHandler
from autofocus.frames import Roi, parse_roi, validate_roi
from autofocus.metrics import METRICS, make_metric
from autofocus.mm_refocus import AutofocusEngine, PositionFocus, SoftwareAutofocusEngine
from autofocus.modes import MODES, metric_for_mode
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES

try:
    from pymmcore_plus import CMMCorePlus, DeviceType
    from pymmcore_plus.experimental.unicore import Device, UniMMCore
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"autofocus.micromanager needs pymmcore-plus: {install_hint('micromanager')}"
    ) from exc

__all__ = [
    "AutofocusCore",
    "SoftwareAutofocus",
    "focus",
    "install_software_autofocus",
    "use_software_autofocus",
]


def focus(
    core: CMMCorePlus,
    range_um: float = 50.0,
    step_um: float = 2.0,
    *,
    center_um: float | None = None,
    stage_label: str | None = None,
    camera_label: str | None = None,
    limits_um: tuple[float, float] = (-math.inf, math.inf),
    max_travel_um: float | None = None,
    on_event: EventHandler | None = None,
    **options: Any,
) -> FocusResult:
    """Autofocus with a Micro-Manager core's focus device and camera.

    Searches ``range_um`` (total width) centred on ``center_um`` (default: the current position)
    in ``step_um`` steps. ``options`` are any further :class:`AutofocusSettings` fields
    (``strategy``, ``metric``, ``blur``, ``roi``, ``downsample``, ``settle_s``, ``backlash_um``,
    ``timeout_s``). Returns the result; the stage ends at the best position, or back at its
    start when focus was not found (``result.reason`` says why).
    """
    travel = DEFAULT_MAX_TRAVEL_UM if max_travel_um is None else max_travel_um
    if not range_um <= travel:
        raise InputError(
            f"focus(): range_um={range_um:g} is more than the focus drive may travel ({travel:g} um); "
            "Micro-Manager does not report a focus drive's limits, so the search is capped at "
            "max_travel_um (the SoftwareAutofocus device's MaxTravel_um); raise it only if your drive "
            "really travels that far"
        )
    microscope = open_core_microscope(core, stage_label, camera_label, limits_um)
    center = microscope.stage.position_um() if center_um is None else center_um
    try:
        settings = AutofocusSettings(
            start_um=center - range_um / 2, end_um=center + range_um / 2, step_um=step_um, **options
        )
    except TypeError as exc:  # an unknown or duplicated option name
        raise InputError(f"focus(): {exc}") from None
    return run_autofocus(microscope, settings, on_event=on_event)


# Property names follow Micro-Manager's own software autofocus (OughtaFocus): unit suffixes.
RANGE, STEP, STRATEGY, METRIC, MODE = "SearchRange_um", "Step_um", "Strategy", "Metric", "Mode"
MODE_DEFAULT = "auto"
"""``Metric`` value meaning: the measured default of ``Mode``, as the command line uses."""
MAX_TRAVEL = "MaxTravel_um"
DEFAULT_MAX_TRAVEL_UM = 1_000.0
"""The widest search ``focus`` runs unless told otherwise: 1 mm, more than any objective's
working range around focus, less than a drive's travel into the slide."""
SETTLE, BACKLASH, OFFSET = "Settle_ms", "Backlash_um", "Offset_um"
DOF, REFOCUS = "DepthOfField_um", "RefocusInMDA"
ROI, FOCUS_STAGE = "ROI", "FocusStage"
"""``ROI``: ``X Y WIDTH HEIGHT`` (pixels) scored, "" the whole frame; ``FocusStage``: the stage
the search moves, "" the core's current focus device."""
YES, NO = "Yes", "No"
INCREMENTAL_FRACTION = 4
"""``incrementalFocus`` searches this fraction of the full range: it is meant for small drifts."""


class SoftwareAutofocus(Device):  # type: ignore[misc]  # pymmcore-plus is opaque to mypy here
    """A Micro-Manager AutoFocus device that runs this package's search on the core's focus device
    and camera. Load it into an :class:`AutofocusCore` (or see :func:`use_software_autofocus`).

    Its properties (``SearchRange_um``, ``Step_um``, ``Strategy``, ``Metric`` (``auto``: the
    ``Mode``'s measured default, as on the command line), ``Mode``, ``Settle_ms``, ``Backlash_um``,
    ``Offset_um``, ``MaxTravel_um``, ``DepthOfField_um`` (0: unknown), ``RefocusInMDA``, ``ROI``,
    ``FocusStage``) change with ``core.setProperty``; ``saveSystemConfiguration`` saves them (as
    pre-initialisation properties, set again when the file is loaded). The search is centred on
    the focus position when ``fullFocus`` is called; the offset is added to the focus found. In an
    MDA, an autofocus where focus was found before runs ``refocus`` near it (``RefocusInMDA``),
    handing over to the full search over ``SearchRange_um`` when focus is not near.
    """

    _TYPE = DeviceType.AutoFocus

    def __init__(
        self,
        search_range_um: float = 50.0,
        step_um: float = 2.0,
        strategy: str = DEFAULT_STRATEGY,
        metric: str = MODE_DEFAULT,
        mode: str = "auto",
        settle_ms: float = 0.0,
        backlash_um: float = 0.0,
        offset_um: float = 0.0,
        max_travel_um: float = DEFAULT_MAX_TRAVEL_UM,
        depth_of_field_um: float = 0.0,
        refocus_in_mda: bool = True,
        roi: str = "",
        focus_stage: str = "",
    ) -> None:
        super().__init__()
        self.last_result: FocusResult | None = None
        """The most recent search, with its whole focus curve."""
        self.positions = PositionFocus()
        """The focus found at each position of the running MDA (the engine fills it)."""
        self.on_event: EventHandler | None = None
        """Optional progress callback for searches started through the core."""
        self._register(RANGE, search_range_um, limits=(1e-3, 1e5))
        self._register(STEP, step_um, limits=(1e-4, 1e4))
        self._register(STRATEGY, strategy, allowed=sorted(STRATEGIES))
        self._register(METRIC, metric, allowed=[MODE_DEFAULT, *sorted(METRICS)])
        self._register(MODE, mode, allowed=sorted(MODES))
        self._register(SETTLE, settle_ms, limits=(0.0, 60_000.0))
        self._register(BACKLASH, backlash_um, limits=(0.0, 1e4))
        self._register(OFFSET, offset_um, limits=(-1e4, 1e4))
        self._register(MAX_TRAVEL, max_travel_um, limits=(1e-3, 1e5))
        self._register(DOF, depth_of_field_um, limits=(0.0, 1e4))
        self._register(REFOCUS, YES if refocus_in_mda else NO, allowed=[YES, NO])
        self._roi: Roi | None = None
        self.register_property(ROI, default_value="", getter=SoftwareAutofocus._roi_text,
                               setter=SoftwareAutofocus._set_roi, is_pre_init=True)
        self.set_property_value(ROI, roi)
        self._register(FOCUS_STAGE, focus_stage)

    def _register(
        self,
        name: str,
        value: float | str,
        limits: tuple[float, float] | None = None,
        allowed: list[str] | None = None,
    ) -> None:
        # Plain stored properties: the core validates against limits/allowed values on set.
        # Pre-initialisation properties, because saveSystemConfiguration writes only those: the
        # settings a user changed survive a save and a reload.
        self.register_property(name, default_value=value, limits=limits, allowed_values=allowed,
                               is_pre_init=True)
        self.set_property_value(name, value)

    def _roi_text(self) -> str:
        # Spaces, not commas: a configuration file's fields are separated by commas.
        return "" if self._roi is None else " ".join(str(v) for v in self._roi)

    def _set_roi(self, text: str) -> None:
        """``X Y WIDTH HEIGHT`` (or with commas); refused at ``setProperty`` when it is not four
        integers, so a typo is seen at once."""
        try:
            roi = parse_roi(",".join(str(text).replace(",", " ").split()), "ROI")
            validate_roi(roi)
        except InputError as exc:
            raise ValueError(f"{exc} (\"\" scores the whole frame)") from None
        self._roi = roi

    def focus_stage(self) -> str | None:
        """The ``FocusStage`` label, None for the core's current focus device."""
        return str(self.get_property_value(FOCUS_STAGE)) or None

    def _metric(self) -> str:
        return str(self.get_property_value(METRIC))

    def _number(self, name: str) -> float:
        return float(self.get_property_value(name))

    def settings_options(self) -> dict[str, Any]:
        """The search options these properties stand for (keyword arguments of :func:`focus`)."""
        return {
            "range_um": self._number(RANGE),
            "step_um": self._number(STEP),
            "strategy": str(self.get_property_value(STRATEGY)),
            "metric": None if self._metric() == MODE_DEFAULT else self._metric(),
            "mode": str(self.get_property_value(MODE)),
            "settle_s": self._number(SETTLE) / 1000.0,
            "backlash_um": self._number(BACKLASH),
            "max_travel_um": self._number(MAX_TRAVEL),
            "roi": self._roi,
            "stage_label": self.focus_stage(),
            **({"dof_um": self._number(DOF)} if self._number(DOF) > 0 else {}),
        }

    def full_focus(self, core: CMMCorePlus, range_fraction: float = 1.0) -> FocusResult:
        """Search, then apply the offset. Raises FocusNotFound when there is no focus to find."""
        options = self.settings_options()
        # Never narrower than four steps, or there would be no peak to see.
        options["range_um"] = max(options["range_um"] * range_fraction, 4 * options["step_um"])
        stage = options["stage_label"]
        if stage is not None and stage not in core.getLoadedDevices():
            raise InputError(f"FocusStage {stage!r} is not a loaded device; loaded: "
                             f"{', '.join(core.getLoadedDevices())} (\"\" uses the core's focus device)")
        start_z = MMStage(core, stage).position_um()
        prior = self.positions.prior_um() if self.get_property_value(REFOCUS) == YES else None
        if prior is not None:
            # Back at a position whose focus is known: a few frames near it; when focus is not
            # there (a bump, a lost specimen), the full search over the whole range around it.
            options.update(strategy="refocus", on_miss="search", center_um=prior, near_um=prior)
        result = focus(core, on_event=self.on_event, **options)
        self.last_result = result
        self.positions.record(result, start_z, prior)
        if not result.focused:
            raise FocusNotFound(result.reason, cast(ReasonCode, result.reason_code or "unresolved"))
        offset = self._number(OFFSET)
        if offset and result.final_z_um is not None:
            MMStage(core, stage).move_to_um(result.final_z_um + offset)
        return result

    def incremental_focus(self, core: CMMCorePlus) -> FocusResult:
        return self.full_focus(core, 1.0 / INCREMENTAL_FRACTION)

    def last_focus_score(self) -> float:
        result = self.last_result
        return float(result.score) if result is not None and result.score is not None else 0.0

    def current_focus_score(self, core: CMMCorePlus) -> float:
        name = self._metric()
        score = make_metric(metric_for_mode(str(self.get_property_value(MODE)))
                            if name == MODE_DEFAULT else name, roi=self._roi)
        return float(score(MMCamera(core).grab()))

    def offset_um(self) -> float:
        return self._number(OFFSET)

    def set_offset_um(self, offset: float) -> None:
        self.set_property_value(OFFSET, float(offset))


class AutofocusCore(UniMMCore):  # type: ignore[misc]
    """``UniMMCore`` that sends Micro-Manager's AutoFocus calls to a :class:`SoftwareAutofocus`
    device when it is the current AutoFocus device (and to the C++ core otherwise).

    Routed: ``setAutoFocusDevice``/``getAutoFocusDevice``, ``fullFocus``, ``incrementalFocus``,
    ``getLastFocusScore``, ``getCurrentFocusScore``, ``setAutoFocusOffset``/``getAutoFocusOffset``,
    ``enableContinuousFocus``/``isContinuousFocusEnabled``/``isContinuousFocusLocked``.
    Failures are raised as ``RuntimeError`` (chained to our exception), as C++ AutoFocus devices'
    are: the MDA engine catches exactly that, logs it and carries on with the acquisition.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._software_af: dict[str, SoftwareAutofocus] = {}
        self._current_software_af = ""
        super().__init__(*args, **kwargs)
        # pymmcore-plus's public hook for a custom engine: the stock one, plus per-position
        # refocusing and autofocus results in the frame metadata (autofocus.mm_refocus).
        self.register_mda_engine(AutofocusEngine(self, self._positions))

    # --- bookkeeping of our devices (public UniMMCore API only) ------------------------------

    def loadPyDevice(self, label: str, device: Device) -> None:
        super().loadPyDevice(label, device)
        if isinstance(device, SoftwareAutofocus):
            self._software_af[label] = device

    load_py_device = loadPyDevice

    def unloadDevice(self, label: str) -> None:
        self._forget(label)
        super().unloadDevice(label)

    def unloadAllDevices(self) -> None:
        self._forget_all()
        super().unloadAllDevices()

    def reset(self) -> None:
        self._forget_all()
        super().reset()

    def _forget(self, label: str) -> None:
        self._software_af.pop(label, None)
        if self._current_software_af == label:
            self._current_software_af = ""

    def _forget_all(self) -> None:
        self._software_af.clear()
        self._current_software_af = ""

    def _software(self) -> SoftwareAutofocus | None:
        return self._software_af.get(self._current_software_af)

    def software_autofocus(self) -> SoftwareAutofocus | None:
        """The current AutoFocus device when it is a :class:`SoftwareAutofocus` (else None)."""
        return self._software()

    def _positions(self) -> PositionFocus | None:
        return None if (device := self._software()) is None else device.positions

    # --- the AutoFocus API ---------------------------------------------------------------------

    def setAutoFocusDevice(self, focusLabel: str) -> None:
        if focusLabel in self._software_af:
            super().setAutoFocusDevice("")  # one current AutoFocus device, never two
            self._current_software_af = focusLabel
            return
        self._current_software_af = ""
        super().setAutoFocusDevice(focusLabel)

    def getAutoFocusDevice(self) -> str:
        return self._current_software_af or str(super().getAutoFocusDevice())

    def setPosition(self, *args: Any, **kwargs: Any) -> None:
        """On a :class:`SoftwareAutofocus` (an MDA's ``AxesBasedAF(autofocus_device_name=...)``
        sets its "offset motor" so): its offset."""
        if len(args) == 2 and not kwargs and args[0] in self._software_af:
            self._software_af[args[0]].set_offset_um(float(args[1]))
            return
        super().setPosition(*args, **kwargs)

    def getPosition(self, *args: Any, **kwargs: Any) -> float:
        if len(args) == 1 and not kwargs and args[0] in self._software_af:
            return self._software_af[args[0]].offset_um()
        return float(super().getPosition(*args, **kwargs))

    def fullFocus(self) -> None:
        if (device := self._software()) is None:
            super().fullFocus()
            return
        self._run(device, device.full_focus)

    def incrementalFocus(self) -> None:
        if (device := self._software()) is None:
            super().incrementalFocus()
            return
        self._run(device, device.incremental_focus)

    def _run(self, device: SoftwareAutofocus, search: Callable[[CMMCorePlus], FocusResult]) -> None:
        with device:  # the device lock: one search at a time
            try:
                search(self)
            except AutofocusError as exc:
                raise RuntimeError(f"software autofocus: {exc.describe()}") from exc

    def getLastFocusScore(self) -> float:
        if (device := self._software()) is None:
            return float(super().getLastFocusScore())
        return device.last_focus_score()

    def getCurrentFocusScore(self) -> float:
        if (device := self._software()) is None:
            return float(super().getCurrentFocusScore())
        try:
            return device.current_focus_score(self)
        except AutofocusError as exc:
            raise RuntimeError(f"software autofocus: {exc}") from exc

    def setAutoFocusOffset(self, offset: float) -> None:
        if (device := self._software()) is None:
            super().setAutoFocusOffset(offset)
            return
        device.set_offset_um(offset)

    def getAutoFocusOffset(self) -> float:
        if (device := self._software()) is None:
            return float(super().getAutoFocusOffset())
        return device.offset_um()

    def enableContinuousFocus(self, enable: bool) -> None:
        if self._software() is None:
            super().enableContinuousFocus(enable)
            return
        if enable:
            # A software search needs the camera to itself; it cannot run alongside imaging.
            raise RuntimeError("software autofocus has no continuous mode")

    def isContinuousFocusEnabled(self) -> bool:
        return False if self._software() is not None else bool(super().isContinuousFocusEnabled())

    def isContinuousFocusLocked(self) -> bool:
        return False if self._software() is not None else bool(super().isContinuousFocusLocked())


def use_software_autofocus(core: CMMCorePlus, **properties: Any) -> SoftwareAutofocus:
    """The software autofocus for the MDAs of a core you already have (your program's, or
    ``CMMCorePlus.instance()`` as ``mmcore run`` makes it). On an :class:`AutofocusCore`: as
    :func:`install_software_autofocus`. On any other core the device stays outside it (a C++ core
    has no Python devices) and an MDA engine (:class:`~autofocus.mm_refocus.SoftwareAutofocusEngine`)
    runs its search at each autofocus event; change settings on the returned device
    (``device.set_property_value("Step_um", 0.5)``).
    """
    if isinstance(core, AutofocusCore):
        return install_software_autofocus(core, **properties)
    if not isinstance(core, CMMCorePlus):
        raise InputError(f"expected a pymmcore-plus CMMCorePlus, got {type(core).__name__}")
    device = SoftwareAutofocus(**properties)
    core.register_mda_engine(SoftwareAutofocusEngine(core, device))
    return device


def install_software_autofocus(
    core: AutofocusCore, label: str = "SoftwareAutofocus", **properties: Any
) -> SoftwareAutofocus:
    """Load, initialise and select a :class:`SoftwareAutofocus` in one call.

    ``properties`` are the device's constructor arguments (``search_range_um``, ``step_um``,
    ``strategy``, ``metric``, ``settle_ms``, ``backlash_um``, ``offset_um``,
    ``depth_of_field_um``, ``refocus_in_mda``, ``roi``, ``focus_stage``).
    """
    if not isinstance(core, AutofocusCore):
        raise InputError(
            "the software autofocus device needs an autofocus.micromanager.AutofocusCore "
            f"(a UniMMCore that routes fullFocus to Python devices), got {type(core).__name__}"
        )
    device = SoftwareAutofocus(**properties)
    core.loadPyDevice(label, device)
    core.initializeDevice(label)
    core.setAutoFocusDevice(label)
    return device
