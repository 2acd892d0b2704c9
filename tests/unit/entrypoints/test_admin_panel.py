"""The panel's own rules, without a database: money on screen, form errors, redirects, cookies."""

import re
import time
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet
from litestar.datastructures import FormMultiDict
from litestar.testing import AsyncTestClient

from application.errors import NotFoundError
from domain.admins import ForbiddenError
from domain.errors import InvalidValueError
from entrypoints.http.admin.format import readable, usd
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.session import local_path
from entrypoints.http.app import create_app
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings

D = Decimal
PASSWORD = "a long enough password"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("1234.5", "1,234.50"),
        ("1", "1.00"),
        ("0.0027075", "0.002708"),  # four significant digits below one unit
        ("0.00645", "0.00645"),
        ("0.5", "0.5"),
        ("0.000000001", "0.000000001"),
        ("0.0000000004", "<0.000000001"),
        ("-0.0045", "-0.0045"),
        ("0", "0.00"),
    ],
)
def test_amounts_are_shown_rounded_for_reading(amount: str, shown: str) -> None:
    assert readable(D(amount)) == shown


def test_the_exact_amount_is_always_on_hover() -> None:
    html = str(usd(D("0.002707500")))
    assert html == '<span class="money" title="0.0027075 USD">$0.002708</span>'
    assert str(usd("-12.3")) == '<span class="money" title="-12.3 USD">-$12.30</span>'
    assert str(usd(D("1E-9"))).startswith('<span class="money" title="0.000000001 USD">')


def test_a_use_case_refusal_lands_on_the_field_it_names() -> None:
    form = Form(FormMultiDict([("name", "x"), ("slug", "Bad Slug")]))
    form.refused(InvalidValueError("slug must be 1-60 lowercase letters, digits or dashes"))
    assert form.error("slug") == "slug must be 1-60 lowercase letters, digits or dashes"
    other = Form(FormMultiDict([("access_groups", "nope")]))
    other.refused(InvalidValueError("access group 'nope' does not exist"), {"access group": "access_groups"})
    assert other.error("access_groups") == "access group 'nope' does not exist"
    general = Form(FormMultiDict([("name", "x")]))
    general.refused(InvalidValueError("changing provider or api_base needs the api_key in the same request"))
    assert general.errors == {} and general.problem is not None


@pytest.mark.parametrize("refusal", [ForbiddenError("viewers have read-only access"), NotFoundError("team not found")])
def test_a_refusal_of_the_caller_is_no_form_error(refusal: Exception) -> None:
    with pytest.raises(type(refusal)):
        Form(FormMultiDict([("name", "x")])).refused(refusal)  # type: ignore[arg-type]


def test_secret_fields_are_never_shown_again() -> None:
    form = Form(FormMultiDict([("api_key", "sk-secret"), ("name", "n")]), secret_fields=frozenset({"api_key"}))
    assert form.value("api_key") == "" and form.value("name") == "n"
    assert form.value("_csrf_token") == ""


def test_typed_reads_report_what_is_wrong() -> None:
    form = Form(FormMultiDict([("amount", "12,5x"), ("n", "3.5"), ("big", "99999999999")]))
    assert form.decimal("amount") is None and form.error("amount") == "must be a decimal number, e.g. 2.50"
    assert form.integer("n") is None and form.error("n") == "must be a whole number"
    assert form.integer("big", maximum=100) is None and form.error("big") == "must be between 0 and 100"
    assert form.text("missing") is None and form.error("missing") == "required"
    assert Form(FormMultiDict([("amount", "1,000.25")])).decimal("amount") == D("1000.25")


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [
        ("/admin", True),
        ("/admin/teams?organization_id=1", True),
        ("/admin?from=2025-01-01", True),
        ("//evil.example/admin", False),
        ("https://evil.example/admin", False),
        ("/admin\\evil", False),
        ("/administrator", False),
        ("/api/teams", False),
        ("", False),
    ],
)
def test_only_panel_paths_are_followed_after_sign_in(candidate: str, kept: bool) -> None:
    assert (local_path(candidate) == candidate) is kept


def _token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


async def test_in_production_the_panel_cookies_are_secure(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "APP_ENV": "production",
            "JWT_SECRET": "x" * 48,
            "FERNET_KEYS": Fernet.generate_key().decode(),
        }
    )
    async with AsyncTestClient(app=create_app(settings, runtime=open_memory_runtime)) as client:
        setup = await client.get("/admin/setup")  # plain http: Secure comes from APP_ENV alone
        csrf_cookie = setup.headers["set-cookie"]
        assert "Secure" in csrf_cookie and "SameSite=strict" in csrf_cookie and "HttpOnly" in csrf_cookie
        # A Secure cookie is not sent back over http by the client: send it by hand.
        jar = {"Cookie": csrf_cookie.split(";")[0]}
        form = {"_csrf_token": _token(setup.text), "email": "o@example.com", "password": PASSWORD}
        created = await client.post(
            "/admin/setup", data={**form, "password_again": PASSWORD}, headers=jar, follow_redirects=False
        )
        assert created.status_code == 303
        signed_in = await client.post("/admin/login", data=form, headers=jar, follow_redirects=False)
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("saasllm_admin=") and "Secure" in cookie and "HttpOnly" in cookie


async def test_a_session_past_half_its_life_gets_a_fresh_cookie_with_the_page(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    async with AsyncTestClient(app=create_app(settings, runtime=open_memory_runtime)) as client:
        user = await client.app.state.services.admin_auth.setup(email="o@example.com", password=PASSWORD)
        now = int(time.time())
        claims = {"sub": str(user.id), "iss": "saasllm", "jti": "j", "iat": now - 800, "exp": now + 100}
        aging = jwt.encode({**claims, "auth_time": now - 800}, settings.jwt_secret, algorithm="HS256")
        page = await client.get("/admin/pricing", headers={"Cookie": f"saasllm_admin={aging}"})
        assert page.status_code == 200
        renewed = [c for c in page.headers.get_list("set-cookie") if c.startswith("saasllm_admin=")]
        assert len(renewed) == 1 and "HttpOnly" in renewed[0] and "Max-Age=900" in renewed[0]
        fresh = renewed[0].split(";")[0].removeprefix("saasllm_admin=")
        assert jwt.decode(fresh, options={"verify_signature": False})["auth_time"] == now - 800
        young = jwt.encode({**claims, "iat": now, "exp": now + 900}, settings.jwt_secret, algorithm="HS256")
        again = await client.get("/admin/pricing", headers={"Cookie": f"saasllm_admin={young}"})
        assert not [c for c in again.headers.get_list("set-cookie") if c.startswith("saasllm_admin=")]
