from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Base of every schema: reads ORM objects, rejects unknown fields on input."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class InputSchema(Schema):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True, extra="forbid")
