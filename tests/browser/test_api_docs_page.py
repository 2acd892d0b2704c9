"""The API docs UI at ``/schema`` works with nothing but the service: every request the
page makes goes to the service itself (anything else is refused here), and Swagger UI
renders every operation of the document, with no script error."""

from typing import Any

from tests.browser.conftest import World, new_page


async def test_the_docs_ui_renders_every_operation_from_the_service_alone(context: Any, world: World) -> None:
    elsewhere: list[str] = []

    async def only_the_service(route: Any) -> None:
        if route.request.url.startswith(world.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_service)
    async with world.client() as http:
        document = (await http.get("/schema/openapi.json")).json()
    operations = sum(
        1
        for item in document["paths"].values()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )
    page = await new_page(context)
    await page.goto("/schema")
    await page.wait_for_selector(".opblock")
    assert await page.locator(".opblock").count() == operations
    assert await page.locator(".information-container .title").inner_text() != ""
    await page.goto("/docs/problems#insufficient_credits")
    assert await page.locator("tr#insufficient_credits").count() == 1
    assert elsewhere == [] and page.script_errors == []
