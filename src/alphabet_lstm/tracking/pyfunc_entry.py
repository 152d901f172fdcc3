"""The pyfunc model's code file (MLflow's "models from code"): MLflow stores this file with
each logged model and runs it when the model is loaded, so no pickled object is involved.
It only names the model class; everything else is in :mod:`pyfunc_model`, which travels
with the model (tracking/shipped.py follows the imports from here).
"""

import mlflow

from alphabet_lstm.tracking.pyfunc_model import AlphabetModel

mlflow.models.set_model(AlphabetModel())
