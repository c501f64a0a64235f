"""Building blocks of the study format: identifier patterns, value types, vocabularies, and
the provenance rule every mapping with numbers obeys (``source`` when a value is given,
``reason`` when every value is null)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
P_PATTERN = r"^(<|>|<=|>=|=)?(0|0?\.[0-9]+|1|1\.0+)$|^ns$"

LESION_TYPES = ("osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified")
LEAKAGE_UNITS = ("vertebra", "patient", "procedure", "leak_site", "ambiguous")

Key = Annotated[StrictStr, Field(pattern=KEY_PATTERN)]
Id = Annotated[StrictStr, Field(pattern=ID_PATTERN)]
Text = Annotated[StrictStr, Field(min_length=1)]
CountInt = Annotated[StrictInt, Field(ge=0)]
Real = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Spread = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
Percent = Annotated[StrictFloat, Field(ge=0, le=100, allow_inf_nan=False)]
PText = Annotated[StrictStr, Field(pattern=P_PATTERN)]
SdKind = Literal["sd", "se", "unlabelled"]
LesionType = Literal["osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified"]
Design = Literal[
    "case_report",
    "case_series",
    "retrospective_case_series",
    "prospective_case_series",
    "retrospective_cohort",
    "prospective_cohort",
    "comparative_cohort",
    "rct",
    "meta_analysis",
]
Procedure = Literal[
    "PVP",  # percutaneous vertebroplasty
    "PKP",  # kyphoplasty (balloon kyphoplasty, BKP, KP)
    "PVP_125I",  # vertebroplasty with iodine-125 seed implantation
    "mesh_container",  # bone-filling mesh container, vesselplasty, mesh-container plasty
    "VP_and_KP",  # a cohort treated with either, not split
    "cement_augmentation",  # cement augmentation, technique not stated
    "cement_augmentation_rfa",  # radiofrequency ablation followed by cement augmentation
    "radiotherapy",  # comparator arm
    "conservative",  # comparator arm (non-surgical care)
    "other",
]
LeakageUnit = Literal["vertebra", "patient", "procedure", "leak_site", "ambiguous"]
CountUnit = Literal["vertebra", "patient", "procedure", "leak_site", "ambiguous"]
# Fixed directions, or favours_<arm id or lesion type> / worse_in_<arm id or lesion type>.
DIRECTION_PATTERN = (
    r"^(improvement|worse|no_change|no_difference|mixed|unclear|none)$"
    r"|^(favours|worse_in)_[a-z][a-z0-9_]*$"
)
Direction = Annotated[StrictStr, Field(pattern=DIRECTION_PATTERN)]


def _err(code: str, message: str) -> PydanticCustomError:
    """A validation error whose type is the stable check code used in findings."""
    return PydanticCustomError(code, message)


class _Model(BaseModel):
    """Frozen, unknown fields forbidden, no coercion of numbers to strings (or back)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)


class Derivation(_Model):
    """How a value was computed by the reviewer (never printed in the source)."""

    method: Text = Field(description="e.g. 'count from printed percentage 27.7% of 18'")
    inputs: Text | None = Field(None, description="the printed values it was computed from")


CHECK_CODE_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class Acceptance(_Model):
    """A validation warning on this mapping that the reviewer checked against the source.

    ``validate`` then counts it as accepted instead of printing it, and the data-quality table
    lists it with its reason. Errors cannot be accepted; an acceptance whose check the mapping
    does not trigger is itself reported, so a stale one never hides anything.
    """

    check: Annotated[StrictStr, Field(pattern=CHECK_CODE_PATTERN)] = Field(
        description="the warning's code, e.g. sd-looks-like-se"
    )
    reason: Text = Field(description="what was checked, e.g. 'Table 2 labels it SD'")


class _Provenanced(_Model):
    """A mapping of values with its provenance.

    ``_content`` names the fields that carry data. When any of them is given, ``source`` is
    required; when all are null, ``reason`` is required (why the value is unknown). ``accept``
    lists the warnings of this mapping that were checked and kept.
    """

    _content: ClassVar[tuple[str, ...]] = ()

    source: Text | None = Field(None, description="where the values were read, e.g. 'Table 2'")
    via: Key | None = Field(
        None, description="BibTeX key of the paper the values were read in (secondary source)"
    )
    reason: Text | None = Field(None, description="why the values are null (not reported, ...)")
    note: Text | None = None
    ambiguous: StrictBool = Field(
        False, description="the source leaves the meaning open; say how in note or ambiguities"
    )
    derived: Derivation | None = Field(
        None, description="present only when the values were computed, not printed"
    )
    accept: tuple[Acceptance, ...] = Field(
        (), description="checked warnings: [{check: sd-looks-like-se, reason: '...'}]"
    )

    def has_content(self) -> bool:
        """True when at least one data field is given."""
        for name in self._content:
            value = getattr(self, name)
            if value is None or (isinstance(value, (tuple, dict)) and not value):
                continue
            return True
        return False

    @model_validator(mode="after")
    def _provenance(self) -> Any:
        if self.has_content():
            if self.source is None:
                raise _err("source-missing", "a value is given without its source (add source:)")
        elif self.reason is None:
            raise _err(
                "reason-missing",
                "every value is null: say why in reason: (e.g. 'not reported in the abstract')",
            )
        if self.derived is not None and not self.has_content():
            raise _err("derived-without-value", "derived: is given but no value is")
        return self
