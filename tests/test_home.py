import pytest
from django.urls import reverse

from tests.builders import World, user

pytestmark = pytest.mark.django_db


def test_anonymous_home_offers_login(client):
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("login").encode() in response.content


def test_gp_only_goes_to_the_news_feed(client):
    world = World()
    gp_user = user(rpps="19999999998")
    world.patient(gp_rpps="19999999998")
    client.force_login(gp_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")


def test_board_member_sees_their_way_in(client):
    world = World()
    client.force_login(world.participants[0][0])
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("rcp:home").encode() in response.content
