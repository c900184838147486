"""The contacts service without MCP: save rules (no silent duplicates), validation, search quality, paging."""

from __future__ import annotations

import pytest

from jarvis_mcp.contacts.rules import normalize_phone, region_from_locale
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.errors import InvalidInput, NotFound


def contacts_of(runtime, user: str = "local", locale: str | None = "es-ES") -> ContactService:
    rt = runtime(user)
    scope = rt.scope_for(rt.local_user_id())
    if locale:
        scope.account.set_profile(locale=locale)
    return scope.contacts


@pytest.fixture
def svc(runtime) -> ContactService:
    return contacts_of(runtime)


def names(result) -> list[str]:  # noqa: ANN001
    return [h.name for h in result.hits]


# -- phones and regions ---------------------------------------------------------------------------


def test_region_comes_from_the_locale() -> None:
    assert region_from_locale("es-ES") == "ES"
    assert region_from_locale("en_US") == "US"
    assert region_from_locale("zh-Hant-TW") == "TW"
    assert region_from_locale("es") is None
    assert region_from_locale(None) is None


@pytest.mark.parametrize("raw", ["612 345 678", "612-345-678", "(612) 34 56 78", "+34 612 345 678", "0034612345678"])
def test_spanish_phone_in_any_format_is_e164(raw: str) -> None:
    assert normalize_phone(raw, "ES") == "+34612345678"


def test_phone_without_region_needs_a_country_code() -> None:
    assert normalize_phone("+1 415 555 2671", None) == "+14155552671"
    with pytest.raises(ValueError, match="no country code"):
        normalize_phone("612 345 678", None)


def test_settings_region_is_the_fallback(runtime, settings_for) -> None:
    rt = runtime("local")
    scope = rt.scope_for(rt.local_user_id())
    from jarvis_mcp.scope import UserScope

    scoped = UserScope(scope.user_id, settings_for("local", phone_region="GB"), scope.store, scope.index, scope.embedder)
    saved = scoped.contacts.save(name="Olivia", phones=["07911 123456"])
    assert saved.contact.phones == ["+447911123456"]


# -- save: create, update, match ----------------------------------------------------------------


def test_create_normalises_everything(svc: ContactService) -> None:
    out = svc.save(name="  María   García ", emails=["Maria@ACME.com"], phones=["612 345 678"], company="Acme",
                   tags=["Client", "VIP"], notes="Met at the fintech meetup", relationship="client")
    assert out.created is True and out.reason == "new contact"
    c = out.contact
    assert c.name == "María García" and c.emails == ["maria@acme.com"] and c.phones == ["+34612345678"]
    assert c.tags == ["client", "vip"] and c.source == "manual" and c.uri == f"jarvis://me/contacts/{c.id}"
    assert svc.get(c.id).model_dump() == c.model_dump()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": "X", "phones": ["12"]}, "phones[0]"),
    ({"name": "X", "phones": ["+34 612 345 678", "banana"]}, "phones[1]"),
    ({"name": "X", "emails": ["not-an-email"]}, "emails[0]"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "X", "tags": ["no spaces allowed!"]}, "tags"),
    ({"name": "X", "notes": "n" * 5001}, "notes"),
    ({}, "name"),
])
def test_bad_input_names_the_field_and_writes_nothing(svc: ContactService, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        svc.save(**kwargs)
    assert raised.value.field == field
    assert svc.page().total == 0


def test_same_email_updates_instead_of_duplicating(svc: ContactService) -> None:
    first = svc.save(name="María García", emails=["maria@acme.com"])
    again = svc.save(name="Maria", emails=["MARIA@acme.com"], phones=["612345678"], tags=["client"])
    assert again.created is False
    assert "maria@acme.com" in again.reason and again.contact.id == first.contact.id
    # A shorter name found by email does not overwrite the full one; lists are added to.
    assert again.contact.name == "María García" and again.contact.phones == ["+34612345678"]
    assert svc.page().total == 1
    same = svc.save(emails=["maria@acme.com"], tags=["client"])
    assert same.created is False and "nothing changed" in same.reason


def test_same_phone_in_another_format_updates(svc: ContactService) -> None:
    first = svc.save(name="John Smith", phones=["+34 612 345 678"])
    out = svc.save(name="John Smith", phones=["0034 612-345-678"], company="Acme")
    assert out.created is False and out.contact.id == first.contact.id and out.contact.company == "Acme"


def test_shared_phone_with_another_name_creates_and_says_so(svc: ContactService) -> None:
    ana = svc.save(name="Ana López", phones=["912 345 678"]).contact
    pedro = svc.save(name="Pedro Ruiz", phones=["912 345 678"])
    assert pedro.created is True
    assert [(d.id, d.why) for d in pedro.possible_duplicates] == [(ana.id, "shares +34912345678 but has another name")]
    assert svc.get(ana.id).name == "Ana López"


def test_handles_of_two_contacts_is_an_error_asking_for_the_id(svc: ContactService) -> None:
    a = svc.save(name="Maria", emails=["m1@x.com"]).contact
    b = svc.save(name="Maria", emails=["m2@x.com"]).contact
    with pytest.raises(InvalidInput) as raised:
        svc.save(name="Maria", emails=["m1@x.com", "m2@x.com"], notes="which one?")
    assert raised.value.field == "contact_id" and a.id in str(raised.value) and b.id in str(raised.value)


def test_same_name_without_handles_is_created_but_flagged(svc: ContactService) -> None:
    first = svc.save(name="Carlos").contact
    second = svc.save(name="carlos")
    assert second.created is True
    assert [d.id for d in second.possible_duplicates] == [first.id] and "possible_duplicates" in second.reason


def test_update_by_id_changes_only_given_fields(svc: ContactService) -> None:
    c = svc.save(name="Lucía", emails=["lucia@a.com"], company="A", tags=["x"]).contact
    out = svc.save(contact_id=c.id, company="B", tags=["y"])
    assert out.created is False and out.reason == "updated by id"
    assert (out.contact.company, out.contact.tags, out.contact.emails) == ("B", ["x", "y"], ["lucia@a.com"])
    replaced = svc.save(contact_id=c.id, tags=["z"], emails=["new@a.com"], replace_lists=True)
    assert replaced.contact.tags == ["z"] and replaced.contact.emails == ["new@a.com"]
    renamed = svc.save(contact_id=c.id, name="Lu")
    assert renamed.contact.name == "Lu"  # by id, the name given is the name wanted


def test_update_unknown_id_is_not_found(svc: ContactService) -> None:
    with pytest.raises(NotFound, match="contact not found: nope"):
        svc.save(contact_id="nope", name="X")


def test_delete(svc: ContactService) -> None:
    c = svc.save(name="Temp", phones=["612 000 111"]).contact
    assert svc.delete(c.id).deleted == c.id
    with pytest.raises(NotFound):
        svc.delete(c.id)
    assert svc.search("Temp").hits == []
    assert svc.search("612 000").hits == []


# -- search ---------------------------------------------------------------------------------------


@pytest.fixture
def book(svc: ContactService) -> ContactService:
    svc.save(name="María García", emails=["maria@acme.com"], phones=["612 345 678"], company="Acme Corp",
             tags=["client"], notes="Prefers email. Met at the fintech meetup in Madrid.")
    svc.save(name="John Smith", phones=["+1 415 555 2671"], role="dentist", relationship="my dentist")
    svc.save(name="Jonathan Pérez", emails=["jp@globex.es"], company="Globex", tags=["supplier"])
    svc.save(name="Mario Rossi", phones=["+39 06 1234 5678"], company="Ferrari", notes="Sailing partner")
    svc.save(name="Zoë Dubois", emails=["zoe@dubois.fr"], tags=["friend", "client"], notes="Lives in Lyon")
    return svc


@pytest.mark.parametrize(("query", "first"), [
    ("maria", "María García"),
    ("MARÍA GARCÍA", "María García"),
    ("garcia", "María García"),
    ("mraia", "María García"),  # transposed letters
    ("jon", "John Smith"),
    ("jhon smith", "John Smith"),
    ("zoe", "Zoë Dubois"),
    ("612 34", "María García"),
    ("+34 612…", "María García"),
    ("612-345-678", "María García"),
    ("(415) 555-2671", "John Smith"),
    ("06 1234", "Mario Rossi"),
    ("maria@acme.com", "María García"),
    ("globex.es", "Jonathan Pérez"),
    ("acme", "María García"),
    ("the dentist", "John Smith"),
    ("María from Acme", "María García"),
    ("supplier", "Jonathan Pérez"),
    ("fintech meetup", "María García"),
    ("sailing", "Mario Rossi"),
])
def test_one_query_finds_people_forgivingly(book: ContactService, query: str, first: str) -> None:
    result = book.search(query)
    assert result.hits, query
    assert result.hits[0].name == first, (query, [(h.name, h.matched) for h in result.hits])


def test_hits_say_which_fields_matched(book: ContactService) -> None:
    hit = book.search("María from Acme").hits[0]
    assert {"name", "company"} <= set(hit.matched)
    assert book.search("612 34").hits[0].matched == ["phone"]
    assert book.search("maria@acme").hits[0].matched[0] == "email"
    assert book.search("supplier").hits[0].matched == ["tags"]
    assert book.search("Lyon").hits[0].matched == ["notes"]


def test_ranking_prefers_the_better_match(book: ContactService) -> None:
    assert names(book.search("john smith"))[0] == "John Smith"
    jon = names(book.search("jon"))
    assert set(jon[:2]) == {"John Smith", "Jonathan Pérez"}
    assert names(book.search("mario"))[0] == "Mario Rossi"  # exact beats a one-letter typo of María


def test_tags_filter_applies_before_ranking(book: ContactService) -> None:
    assert names(book.search("zoe", tags=["client"])) == ["Zoë Dubois"]
    assert names(book.search("maria", tags=["supplier"])) == []
    assert names(book.search("maria", tags=["CLIENT"])) == ["María García"]


def test_semantic_matching_on_notes_when_words_do_not_match(book: ContactService) -> None:
    result = book.search("someone I go out on boats with")
    assert result.hits and result.hits[0].name == "Mario Rossi"
    assert result.hits[0].matched == ["semantic"]


def test_nothing_found_is_an_empty_list(book: ContactService) -> None:
    assert book.search("qwxzzy").hits == []


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"query": ""}, "query"), ({"query": "   "}, "query"), ({"query": "x" * 201}, "query"),
    ({"query": "a", "limit": 0}, "limit"), ({"query": "a", "limit": 51}, "limit"),
    ({"query": "a", "tags": ["bad tag!"]}, "tags"),
])
def test_search_bad_input(book: ContactService, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        book.search(**kwargs)
    assert raised.value.field == field


def test_limit_bounds_the_hits(svc: ContactService) -> None:
    for i in range(30):
        svc.save(name=f"Ana {i}")
    assert len(svc.search("ana", limit=7).hits) == 7
    assert len(svc.search("ana", limit=50).hits) == 30


def test_index_follows_writes_and_other_processes(runtime, svc: ContactService) -> None:
    c = svc.save(name="Beatriz Ortega").contact
    assert names(svc.search("beatriz")) == ["Beatriz Ortega"]
    svc.save(contact_id=c.id, name="Beatriz Olmo")
    assert names(svc.search("olmo")) == ["Beatriz Olmo"] and svc.search("ortega").hits == []
    # A second runtime on the same file (another server process) writes; this one sees it.
    other = contacts_of(runtime, "local", locale=None)
    other.save(name="Ignacio Vidal")
    assert names(svc.search("ignacio")) == ["Ignacio Vidal"]
    other.delete(c.id)
    assert svc.search("beatriz").hits == []


def test_paging(svc: ContactService) -> None:
    for n in ("Carla", "ana", "Bruno", "Álvaro"):
        svc.save(name=n)
    page = svc.page(1, size=3)
    assert [c.name for c in page.contacts] == ["Álvaro", "ana", "Bruno"]  # accent- and case-folded order
    assert page.total == 4 and page.next_page == "jarvis://me/contacts/page/2"
    last = svc.page(2, size=3)
    assert [c.name for c in last.contacts] == ["Carla"] and last.next_page is None
    assert svc.page(9).contacts == []
    with pytest.raises(InvalidInput):
        svc.page(0)


def test_users_do_not_share_contacts(runtime) -> None:
    alice = contacts_of(runtime, "alice")
    bob = contacts_of(runtime, "bob")
    mine = alice.save(name="Secret Sam", emails=["sam@x.com"], phones=["612 999 888"]).contact
    assert bob.search("sam").hits == [] and bob.search("612 999").hits == [] and bob.search("sam@x.com").hits == []
    with pytest.raises(NotFound):
        bob.get(mine.id)
    with pytest.raises(NotFound):
        bob.delete(mine.id)
    with pytest.raises(NotFound):
        bob.save(contact_id=mine.id, name="Hijacked")
    # The same email saved by Bob is Bob's own new contact, not an update of Alice's.
    theirs = bob.save(name="Sam", emails=["sam@x.com"])
    assert theirs.created is True and theirs.possible_duplicates == []
    assert alice.get(mine.id).name == "Secret Sam"
