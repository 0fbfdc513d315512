"""Run a Numerai Model-Upload pickle (a cloudpickled ``predict``) unchanged."""
