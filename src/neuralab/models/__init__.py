"""Complete networks, one family per file, registered by name (maths only: no I/O, no optimizer).

Importing a family's module registers its models:
    mlp           mlp                        fully connected network
    lenet         lenet5                     LeNet-5 (the course's Keras version)
    gesture_cnn   gesture-cnn                the hand-gesture mini-project CNN
    alexnet       alexnet                    AlexNet for small images
    vgg           vgg                        VGG for small images
    resnet        resnet                     ResNet of basic blocks (ResNet-20 by default)
    googlenet     googlenet                  GoogLeNet / Inception v1 for small images
    rnn_regressor rnn-regressor              one-to-one SimpleRNN(50) -> Dense 1 over a window
    sentiment     sentiment-lstm             many-to-one Embedding -> LSTM -> Dense 1 (course + strong)
    sentiment_bow sentiment-ngram, sentiment-nbsvm   bag-of-n-grams baselines (fastText, NBSVM)
    char_rnn      char-rnn                   one-to-many character generator (SimpleRNN/LSTM/GRU)
    seq2seq       seq2seq                    many-to-many encoder-decoder LSTM/GRU, Luong/Bahdanau attention
    anomaly       lstm-autoencoder, convlstm-detector, convlstm   vital-sign anomaly detectors; bench ConvLSTM
    forecasters   lstm-forecaster, gru-forecaster, mlp-forecaster   window forecasters (AR vs LSTM)
"""

from neuralab.models import (  # noqa: F401  (registers)
    alexnet,
    anomaly,
    char_rnn,
    forecasters,
    gesture_cnn,
    googlenet,
    lenet,
    mlp,
    resnet,
    rnn_regressor,
    sentiment,
    sentiment_bow,
    seq2seq,
    vgg,
)
from neuralab.models.registry import example_input, get_model, list_models, model_entry, register_model

__all__ = ["example_input", "get_model", "list_models", "model_entry", "register_model"]
