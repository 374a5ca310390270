"""What `/finetune train` takes at a provider: each provider's `Options`, built from these parts.

A field's name is the key admins type; its alias, where it has one, is the name the value goes
to the provider and into the job's record under (`lr=` is OpenAI's `learning_rate_multiplier`
and Nebius's `learning_rate`: the semantics are the provider's, declared on its own field).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from admin.options import Lowercase, Options

Method = Literal["supervised", "dpo"]
# Options tunebot reads itself rather than passing to the provider.
OWN_OPTIONS = frozenset({"model", "validation", "method"})


class TrainOptions(Options):
    """Every provider's options start with these: the model and the validation dataset."""

    model: str | None = Field(None, max_length=255, description="the base model to fine-tune")
    validation: str | None = Field(
        None, max_length=64, description="a stored dataset (ds-N) to validate on"
    )

    def training_method(self) -> Method:
        return "dpo" if getattr(self, "method", None) == "dpo" else "supervised"

    def provider_fields(self) -> dict[str, Any]:
        """The options set for this job under their providers' names, less tunebot's own."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude=set(OWN_OPTIONS))


class PreferenceOptions(TrainOptions):
    """Options of a provider that trains with DPO as well (Capability.DPO)."""

    method: Annotated[Method, Lowercase] = Field("supervised", description="the training method")
    beta: float | None = Field(
        None, gt=0, description="DPO only: how far the model may drift from the base"
    )

    @model_validator(mode="after")
    def _beta_needs_dpo(self) -> Self:
        if "beta" in self.model_fields_set and self.method != "dpo":
            raise ValueError("`beta=` applies to DPO only: add `method=dpo`.")
        return self


# Parts most providers declare; a provider with other bounds or words declares its own field.
Epochs = Annotated[
    int | None, Field(ge=1, le=100, alias="n_epochs", description="epochs, 1 or more")
]
Batch = Annotated[int | None, Field(ge=1, alias="batch_size", description="batch size, 1 or more")]
Suffix = Annotated[str | None, Field(max_length=64, description="text to put in the model's name")]
Seed = Annotated[int | None, Field(ge=0, description="a whole number for reproducible runs")]
LearningRate = Annotated[
    float | None,
    Field(gt=0, alias="learning_rate", description="absolute learning rate, such as 0.00001"),
]
# OpenAI's fine-tuning API (and the servers that speak it) scales its own default instead.
LearningRateMultiplier = Annotated[
    float | None,
    Field(
        gt=0,
        alias="learning_rate_multiplier",
        description="learning rate multiplier of the provider's default, such as 1.8",
    ),
]
