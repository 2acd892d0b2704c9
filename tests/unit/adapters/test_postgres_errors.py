"""psycopg errors become application errors: a value Postgres cannot take is the client's
422, anything else a bug whose driver class only the log may name."""

import psycopg
import pytest
from psycopg import errors as pg

from adapters.postgres.errors import PersistenceError, translate, translated
from domain.errors import InvalidValueError


@pytest.mark.parametrize(
    "error",
    [
        pg.UntranslatableCharacter(),
        pg.CharacterNotInRepertoire(),
        pg.NumericValueOutOfRange(),
        pg.DatetimeFieldOverflow(),
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
    ],
)
def test_a_value_the_database_cannot_store_is_a_client_error(error: Exception) -> None:
    translated_error = translate(error)
    assert isinstance(translated_error, InvalidValueError) and translated_error.code == "invalid_request"
    assert type(error).__name__ not in translated_error.detail and "NUL" not in translated_error.detail


def test_a_lone_surrogate_psycopg_cannot_encode_is_a_client_error() -> None:
    with pytest.raises(InvalidValueError), translated():
        "a\ud800".encode()


def test_an_unexpected_database_error_keeps_its_driver_class_out_of_the_message() -> None:
    error = translate(pg.UndefinedFunction("function no_such_function() does not exist"))
    assert isinstance(error, PersistenceError) and error.code == "internal_error"
    assert error.cause == "UndefinedFunction"
    assert "UndefinedFunction" not in error.detail and "no_such_function" not in error.detail
