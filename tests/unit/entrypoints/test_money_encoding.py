"""Decimals leave in one notation, written by the one encoder the app registers."""

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.http.schemas.money import TYPE_ENCODERS, Body, FixedPoint, Money, fixed_point
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings

D = Decimal


class Sample(Body, frozen=True, kw_only=True):
    amount: Money
    optional: Money | None = None
    label: str = "x"


@pytest.mark.parametrize(
    ("value", "text"),
    [("0.064500", "0.0645"), ("1E-9", "0.000000001"), ("12E+3", "12000"), ("0E-9", "0"), ("-2.50", "-2.5"), ("7", "7")],
)
def test_the_notation_is_fixed_point_without_trailing_zeros(value: str, text: str) -> None:
    assert fixed_point(D(value)) == text
    assert str(Sample(amount=D(value)).amount) == text  # also where a template prints it


async def test_a_response_structs_decimals_leave_through_the_registered_encoder() -> None:
    @get("/sample", sync_to_thread=False)
    def sample() -> list[Sample]:
        return [Sample(amount=D("0.064500"), optional=D("1E-9")), Sample(amount=D("-0"), label="y")]

    async with AsyncTestClient(Litestar([sample], type_encoders=TYPE_ENCODERS)) as client:
        body = (await client.get("/sample")).content
    assert (
        body
        == b'[{"amount":"0.0645","optional":"0.000000001","label":"x"},{"amount":"-0","optional":null,"label":"y"}]'
    )


def test_without_the_encoder_a_decimal_is_refused_rather_than_written_in_another_notation() -> None:
    assert isinstance(Sample(amount=D(1)).amount, FixedPoint)
    with pytest.raises(TypeError):
        msgspec.json.encode(Sample(amount=D(1)))


async def test_the_app_registers_the_encoder_and_documents_money_as_strings(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    assert app.type_encoders is not None and app.type_encoders[Decimal] is fixed_point
    async with AsyncTestClient(app) as client:
        schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    team = schemas["TeamOut"]
    assert team["properties"]["credits_per_usd"]["type"] == "string"
    threshold = team["properties"]["low_credit_threshold"]
    assert {"type": "string"} in threshold["oneOf"] and {"type": "null"} in threshold["oneOf"]
