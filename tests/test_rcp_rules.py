import datetime as dt

from concerto.rcp import rules


def test_quorum_needs_three_distinct_specialties():
    assert not rules.quorum(["Chirurgie", "chirurgie ", "Radiothérapie"]).met
    result = rules.quorum(["Chirurgie", "Radiothérapie", "Anatomopathologie"])
    assert result.met
    assert result.specialties == ("Anatomopathologie", "Chirurgie", "Radiothérapie")


def test_quorum_core_specialties_when_required():
    three = ["Chirurgie", "Radiologie", "Anatomopathologie"]
    assert rules.quorum(three).met
    result = rules.quorum(three, requires_core=True)
    assert not result.met
    assert result.missing_core == (rules.MEDICAL_ONCOLOGY, rules.RADIOTHERAPY)
    assert "Oncologie médicale" in result.explanation
    assert rules.quorum([*rules.CORE_SPECIALTIES], requires_core=True).met


def test_quorum_knows_a_specialty_under_its_directory_name():
    """A member's specialty may come from the RPPS directory ("Oncologie option
    médicale", "Chirurgie générale") while the board's members are typed ("Oncologie
    médicale"): one specialty is counted once, and a required one is found."""
    directory_names = ["Chirurgie générale", "Oncologie option médicale", "Radiothérapie"]
    result = rules.quorum(directory_names, requires_core=True)
    assert result.met, result.explanation
    assert result.missing_core == ()
    assert result.specialties == ("Chirurgie générale", "Oncologie médicale", "Radiothérapie")
    # Two medical oncologists under two names, a pathologist under two: two specialties.
    two = [
        "Oncologie médicale",
        "oncologie option medicale",
        "Anatomie et cytologie pathologiques",
        "Anatomopathologie",
    ]
    assert not rules.quorum(two).met
    assert rules.quorum(two).specialties == ("Anatomopathologie", "Oncologie médicale")
    assert rules.quorum(["Radio-diagnostic", "Radiologie", "Pneumologie"]).specialties == (
        "Pneumologie",
        "Radiologie",
    )
    # The specialty or its doctor: one.
    assert not rules.quorum(["Chirurgie", "Chirurgien", "Oncologie médicale"]).met
    assert rules.quorum(["Radiologue", "Radiologie", "Anatomopathologiste"]).specialties == (
        "Anatomopathologie",
        "Radiologie",
    )
    # "Chirurgien-dentiste" is no surgeon for the board; a thoracic surgeon is.
    assert rules.quorum(
        ["Chirurgien-dentiste", "Oncologie médicale", "Radiothérapie"], requires_core=True
    ).missing_core == (rules.SURGERY,)
    assert rules.quorum(
        ["Chirurgie thoracique", "Oncologie médicale", "Radiothérapie"], requires_core=True
    ).met


def test_news_texts_match_the_seed():
    assert (
        rules.upcoming_text("Tumeurs rares neuroendocrines RENATEN", dt.date(2022, 9, 13))
        == "A venir : présentation en Tumeurs rares neuroendocrines RENATEN le 13/09/2022"
    )
    assert (
        rules.pps_text(
            "Tumeur maligne du plancher antérieur de la bouche",
            "BENAND PHILIPPE",
            "POLYCLINIQUE DE POITIERS",
        )
        == "Tumeur maligne du plancher antérieur de la bouche Nouveau PPS généré par "
        "BENAND PHILIPPE (POLYCLINIQUE DE POITIERS)"
    )
