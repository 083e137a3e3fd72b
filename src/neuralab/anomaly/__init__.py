"""Vital-sign anomaly detection built from the models: scaling and windows, detectors with one fit/score
interface, thresholds and events, saving trained detectors, and honest evaluation.

    windows     Scaler (robust, fitted on normal data), sliding/tiling windows, correlation (signature) maps
    detectors   lstm-autoencoder, convlstm-detector, ar, iforest; make_detector, load_detector
    thresholds  Threshold (dynamic mean + k·std, percentile, fixed), merge_events
    evaluate    point-/event-wise P/R/F1, ROC-AUC, PR-AUC, recall per kind, false alarms per hour
"""

from neuralab.anomaly.detectors import DETECTORS, Detector, Scores, load_detector, make_detector
from neuralab.anomaly.evaluate import evaluate_detector, evaluate_records
from neuralab.anomaly.thresholds import Threshold, merge_events

__all__ = ["DETECTORS", "Detector", "Scores", "Threshold", "evaluate_detector", "evaluate_records",
           "load_detector", "make_detector", "merge_events"]
