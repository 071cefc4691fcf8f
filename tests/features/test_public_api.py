import nwsrec.features as features


def test_every_public_name_is_importable():
    assert features.__all__, "nwsrec.features must declare __all__"
    for name in features.__all__:
        assert getattr(features, name) is not None, name
