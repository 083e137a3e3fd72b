"""Complete networks, one family per file, registered by name (maths only: no I/O, no optimizer).

Importing a family's module registers its models:
    mlp           mlp                        fully connected network
    lenet         lenet5                     LeNet-5 (the course's Keras version)
    gesture_cnn   gesture-cnn                the hand-gesture mini-project CNN
    alexnet       alexnet                    AlexNet for small images
    vgg           vgg                        VGG for small images
    resnet        resnet                     ResNet of basic blocks (ResNet-20 by default)
    googlenet     googlenet                  GoogLeNet / Inception v1 for small images
"""

from neuralab.models import alexnet, gesture_cnn, googlenet, lenet, mlp, resnet, vgg  # noqa: F401  (registers)
from neuralab.models.registry import example_input, get_model, list_models, model_entry, register_model

__all__ = ["example_input", "get_model", "list_models", "model_entry", "register_model"]
