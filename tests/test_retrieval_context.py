"""The `context` prompt (the seeds' buildUserContext): only memories that pass the relevance floor, never
padded, and the person's frequent contacts, read from what they emailed and called; never another user's."""

from __future__ import annotations

from typing import Any

from mcp import Client
from test_memory_tools import ok, remember

FILLER = ["Car insurance renews every March", "Favourite pizza topping is mushrooms",
          "Book club meets on the first Thursday", "The boiler needs a new valve",
          "The wifi password is on the fridge", "Gym locker code is 4471",
          "Running shoes are size 42", "The neighbour's cat is called Miso"]


async def prompt_text(c: Client, name: str, args: dict[str, Any]) -> str:
    prompt = await c.get_prompt(name, args)
    return "\n".join(m.content.text for m in prompt.messages)  # type: ignore[union-attr]


async def contact(c: Client, name: str, email: str, phone: str) -> str:
    return ok(await c.call_tool("save_contact", {"name": name, "emails": [email], "phones": [phone]}))["contact"]["id"]


async def test_only_relevant_memories_no_padding(client_for) -> None:
    async with client_for("alice") as c:
        for text in FILLER:
            await remember(c, text)
        trip = [(await remember(c, "Flights to Tokyo booked for the Japan trip in April"))["memory"]["id"],
                (await remember(c, "In Kyoto we stay three nights at a ryokan"))["memory"]["id"]]
        text = await prompt_text(c, "context", {"query": "viaje a Japón / Japan trip"})
        assert f'id="{trip[0]}"' in text
        assert text.count("<memory ") < len(FILLER)  # the unrelated ones are not there to fill 8 slots
        assert "Miso" not in text and "pizza" not in text
        nothing = await prompt_text(c, "context", {"query": "What is the capital of Australia?"})
        assert "<memory " not in nothing and "(no stored memory is relevant to this query)" in nothing


async def test_frequent_contacts_are_the_ones_emailed_and_called(client_for) -> None:
    async with client_for("alice") as c:
        bruno = await contact(c, "Bruno Díaz", "bruno@example.com", "+34612345678")
        carla = await contact(c, "Carla Ruiz", "carla@example.com", "+34612345679")
        await contact(c, "Nadie Nunca", "nadie@example.com", "+34612345670")  # never dealt with
        for subject in ("Obra", "Presupuesto"):
            ok(await c.call_tool("send_email", {"to": ["Bruno"], "subject": subject, "body": "Hola"}))
        ok(await c.call_tool("send_email", {"to": ["carla@example.com"], "subject": "Cena", "body": "¿El viernes?"}))
        ok(await c.call_tool("call_contact", {"contact": "Bruno Díaz", "purpose": "confirmar la obra"}))
        text = await prompt_text(c, "context", {"query": "la obra de la cocina"})
        assert "Frequent contacts" in text
        assert text.index(f'id="{bruno}"') < text.index(f'id="{carla}"')  # 3 interactions before 1
        assert 'interactions="3"' in text and "Nadie Nunca" not in text


async def test_a_new_user_has_no_memories_and_no_frequent_contacts(client_for) -> None:
    async with client_for("alice") as c:
        text = await prompt_text(c, "context", {"query": "anything"})
        assert "(none stored yet)" in text and "Frequent contacts" not in text


async def test_another_users_contacts_never_appear(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        await contact(alice, "Bruno Díaz", "bruno@example.com", "+34612345678")
        ok(await alice.call_tool("send_email", {"to": ["Bruno"], "subject": "Obra", "body": "Hola"}))
        await remember(alice, "Bruno is rebuilding the kitchen")
        text = await prompt_text(bob, "context", {"query": "Bruno kitchen"})
        assert "Bruno" not in text.replace("Bruno kitchen", "") and "Frequent contacts" not in text
