"""The one HTML reader, shared by stored HTML documents and the plain-text part of HTML email."""

from __future__ import annotations

from jarvis_mcp.documents.ingest import HTML, extract
from jarvis_mcp.html_text import Line, html_to_text, parse_html


def test_spanish_text_with_entities_reads_as_a_person_sees_it() -> None:
    html = "<p>¿Cenamos <b>el viernes</b>?</p><p>Te espero en el caf&eacute; de la esquina&nbsp;&mdash; Ana</p>"
    assert html_to_text(html) == "¿Cenamos el viernes?\nTe espero en el café de la esquina — Ana"


def test_english_text_with_numeric_and_named_entities() -> None:
    html = "<div>Fish &amp; chips for &#163;9 &lt;today&gt; at 5&#x202F;pm</div>"
    assert html_to_text(html) == "Fish & chips for £9 <today> at 5 pm"  # no-break spaces read as spaces


def test_scripts_styles_and_the_head_are_dropped_but_the_title_is_kept() -> None:
    html = ("<!DOCTYPE html><html><head><title>  Boiler\n page </title><style>.x{color:red}</style>"
            "<script>var a = '<p>no</p>';</script></head><body><noscript>enable js</noscript>"
            "<p>Serviced every March.</p><script>stealCookies()</script><style>p{}</style></body></html>")
    page = parse_html(html)
    assert page.title == "Boiler page"
    assert page.text == "Serviced every March."
    for hidden in ("color:red", "stealCookies", "no", "enable js", "Boiler"):
        assert hidden not in page.text.split()


def test_headings_list_items_rows_and_breaks_are_lines() -> None:
    html = ("<h1>Receta</h1><p>Ingredientes:</p><ul><li>harina</li><li>huevos <i>frescos</i></li></ul>"
            "<h2>Pasos</h2><ol><li>Mezclar</li><li>Hornear</li></ol><p>línea uno<br>línea dos<br/>línea tres</p>"
            "<table><tr><th>Day</th><th>Time</th></tr><tr><td>Mon</td><td>9:00</td></tr></table>")
    page = parse_html(html)
    assert page.lines == (
        Line("Receta", 1), Line("Ingredientes:"), Line("harina"), Line("huevos frescos"), Line("Pasos", 2),
        Line("Mezclar"), Line("Hornear"), Line("línea uno"), Line("línea dos"), Line("línea tres"),
        Line("Day Time"), Line("Mon 9:00"),
    )


def test_whitespace_is_collapsed_except_inside_pre() -> None:
    html = "<p>  many\n   spaces\there </p><pre>\ndef f():\n    return 1\n</pre>"
    assert parse_html(html).lines == (Line("many spaces here"), Line("def f():\n    return 1"))


def test_an_unclosed_head_does_not_hide_the_body() -> None:
    assert html_to_text("<html><head><title>T</title><body><p>visible</p></body>") == "visible"


def test_empty_or_invisible_html_has_no_text() -> None:
    assert html_to_text("") == ""
    assert parse_html("<script>x()</script><p>   </p>") == parse_html("")
    assert parse_html("").title is None


def test_documents_read_html_through_the_same_helper() -> None:
    extracted = extract("<title>Piso</title><h2>Contrato</h2><p>Renta: 900&nbsp;€</p>".encode(), HTML)
    assert extracted.title == "Piso"
    assert [(b.text, b.heading) for b in extracted.blocks] == [("Contrato", 2), ("Renta: 900 €", 0)]
    assert extracted.text == "## Contrato\n\nRenta: 900 €"
