"""The console's report panel and ticket form, built from the catalogue (pure)."""

from __future__ import annotations

from chat_server.agents.ticket_form import collected, form_services, report_service
from chat_server.tickets.catalogue import load_catalogue
from tests.support.servers import ROOT

CATALOGUE = load_catalogue(ROOT / "chat_server" / "tickets" / "catalogue.yml")


def test_panel_speaks_catalogue_words_and_hides_debug_metadata() -> None:
    service = CATALOGUE.by_label("report_missed_pickup")
    assert service is not None
    # the shape the bot's tracker has: the service's answers in one `attributes` slot
    slots = {"session_started_metadata": {"language": "en"}, "requested_slot": "description", "language": "en",
             "service": "report_missed_pickup",
             "attributes": {"cart_type": ["garbage", "recycling"], "cart_at_curb_by_7am": True},
             "location": "600 E 4th St", "phone": "704-555-0142", "contact_name": "Ann Ruiz"}
    panel = collected(slots, service, "http://x/media/a.jpg")
    assert panel["service_code"] == "MISSED_PICKUP" and panel["service_name"] == service.name("en")
    cart, curb = panel["attributes"]
    assert cart["value"] == ["garbage", "recycling"] and cart["question"] == service.attributes[0].description("en")
    assert cart["words"] == ", ".join(v.name("en") for v in service.attributes[0].values[:2])
    assert curb["value"] == "yes" and curb["words"] == service.attributes[1].value("yes").name("en")  # type: ignore[union-attr]
    assert panel["address"] == "600 E 4th St" and "lat" not in panel
    assert panel["contact"] == {"name": "Ann Ruiz", "phone": "704-555-0142"} and panel["photo"] == "http://x/media/a.jpg"
    assert "session_started_metadata" not in str(panel) and "requested_slot" not in str(panel)


def test_skipped_questions_are_left_out_of_the_panel() -> None:
    service = report_service({"service": "report_graffiti"}, CATALOGUE, None, "greet")
    assert service is not None and service.label == "report_graffiti"
    slots = {"service": "report_graffiti", "location": "500 W Trade St", "description": "skipped", "photo": "skipped",
             "attributes": {"surface": "bridge", "offensive": "skipped"},
             "contact_name": "skipped", "phone": "skipped", "email": "skipped"}
    panel = collected(slots, service, None)
    assert [a["code"] for a in panel["attributes"]] == ["surface"]
    assert panel["contact"] == {} and panel["description"] is None and "skipped" not in str(panel)
    by_label = report_service({}, CATALOGUE, "report_graffiti")
    assert by_label is not None and by_label.label == "report_graffiti"
    assert report_service({}, CATALOGUE, None, "greet") is None


def test_panel_with_coordinates_and_without_a_service() -> None:
    panel = collected({"location": "35.227100,-80.843100", "description": "deep"}, None, None)
    assert panel["lat"] == 35.2271 and panel["long"] == -80.8431 and panel["service_code"] is None
    assert panel["attributes"] == [] and panel["description"] == "deep" and panel["contact"] == {}


def test_form_has_every_service_and_typed_fields() -> None:
    form = {s["service_code"]: s for s in form_services(CATALOGUE)}
    assert set(form) == {s.service_code for s in CATALOGUE}
    for service in CATALOGUE:
        fields = {f["code"]: f for f in form[service.service_code]["fields"]}
        for attr in service.attributes:
            field = fields[attr.code]
            assert field["required"] == attr.required and field["label"] == attr.description("en")
            expected = {"singlevaluelist": "select", "multivaluelist": "select", "number": "number",
                        "datetime": "date", "text": "textarea", "string": "text"}[attr.datatype]
            assert field["field"] == expected and field["multiple"] == (attr.datatype == "multivaluelist")
            assert [v["key"] for v in field["values"]] == [v.key for v in attr.values]
