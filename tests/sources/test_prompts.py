"""Prompts: placeholders checked at creation (422 naming them) and rendered fast per row."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from shared.prompts.service import PromptTemplateError, compile_prompt, render_prompt
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_prompt


async def test_prompt_crud_and_preview(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    body = {
        "name": "ui strings",
        "system": 'Translate {source_language} UI text into {target_language}. Answer {{"t": ...}}.',
        "user_template": "{context}\n---\n{source_text}",
    }
    created = await client.post("/v1/prompts", json=body, headers=org.headers)
    assert created.status_code == 201
    prompt = created.json()
    preview = await client.post(
        f"/v1/prompts/{prompt['id']}/render",
        json={
            "source_language": "en-US",
            "target_language": "fr-FR",
            "source_text": "Save",
            "context": "button",
        },
        headers=org.headers,
    )
    assert preview.json() == {
        "object": "prompt.rendering",
        "system": 'Translate en-US UI text into fr-FR. Answer {"t": ...}.',
        "user": "button\n---\nSave",
    }
    other = await create_org(db, "Globex")
    assert (await client.get(f"/v1/prompts/{prompt['id']}", headers=other.headers)).status_code == 404
    updated = await client.patch(f"/v1/prompts/{prompt['id']}", json={"name": "v2"}, headers=org.headers)
    assert updated.json()["name"] == "v2"
    assert (await client.delete(f"/v1/prompts/{prompt['id']}", headers=org.headers)).status_code == 200
    assert (await client.get(f"/v1/prompts/{prompt['id']}", headers=org.headers)).status_code == 404


@pytest.mark.parametrize(
    ("field", "template", "named"),
    [
        ("user_template", "Translate {source_txt}", "source_txt"),
        ("system", "You are {role}.", "role"),
        ("user_template", "{source_text} {0}", "0"),
        ("user_template", "{source_text.upper}", "source_text.upper"),
    ],
)
async def test_unknown_placeholders_are_a_422_naming_them(
    client: AsyncClient, db: AsyncSession, field: str, template: str, named: str
) -> None:
    org = await create_org(db)
    body = {"name": "p", "system": "Translate.", "user_template": "{source_text}", field: template}
    response = await client.post("/v1/prompts", json=body, headers=org.headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["pointer"] == f"#/{field}" and problem["errors"][0]["placeholder"] == named
    assert named in problem["detail"]


async def test_templates_need_the_source_text_and_balanced_braces(
    client: AsyncClient, db: AsyncSession
) -> None:
    org = await create_org(db)
    no_source = await client.post(
        "/v1/prompts", json={"name": "p", "system": "", "user_template": "Hello"}, headers=org.headers
    )
    assert no_source.status_code == 422 and "{source_text}" in no_source.json()["detail"]
    unbalanced = await client.post(
        "/v1/prompts",
        json={"name": "p", "system": "{", "user_template": "{source_text}"},
        headers=org.headers,
    )
    assert unbalanced.status_code == 422 and "{{" in unbalanced.json()["detail"]


async def test_render_function_for_the_dataset_builder(db: AsyncSession) -> None:
    org = await create_org(db)
    prompt = await create_prompt(db, org.id)
    rendered = render_prompt(prompt, source_language="en", target_language="de", source_text="Hi ⟦p1⟧")
    assert rendered.system == "You translate software strings from en to de."
    assert rendered.user == "Context: \nTranslate: Hi ⟦p1⟧"
    compiled = compile_prompt(prompt.system, prompt.user_template)
    assert compiled is compile_prompt(prompt.system, prompt.user_template)  # checked once, cached
    with pytest.raises(PromptTemplateError, match=r"unknown placeholder \{tone\}") as raised:
        compile_prompt("", "{tone} {source_text}")
    assert raised.value.placeholder == "tone" and raised.value.field == "user_template"
