

def test_require_image_classifier_names_the_problem():
    import pytest

    from neuralab.errors import ConfigError
    from neuralab.models.registry import image_classifiers, require_image_classifier

    assert {"lenet5", "gesture-cnn", "resnet"} <= set(image_classifiers())
    assert "sentiment-lstm" not in image_classifiers()
    assert require_image_classifier("lenet5") == "lenet5"
    with pytest.raises(ConfigError, match="option arch='sentiment-lstm': not an image classifier; expected one of"):
        require_image_classifier("sentiment-lstm")
    with pytest.raises(ConfigError, match="option arch='nope': unknown model"):
        require_image_classifier("nope")
