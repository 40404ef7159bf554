"""Serdes, under the module path restate-sdk uses (``from perdure.serde import BytesSerde``)."""

from __future__ import annotations

from perdure.sdk.serde import BytesSerde, DefaultSerde, JsonSerde, PydanticJsonSerde, Serde

__all__ = ["BytesSerde", "DefaultSerde", "JsonSerde", "PydanticJsonSerde", "Serde"]
