"""Plain CPU (XNNPACK): INT8 with integer I/O so the whole graph is one XNNPACK partition (the gate checks it)."""

IO_DTYPE = "int8"


def finalize(int8_path, float_model, calib, out_dir, name) -> dict:
    return {}
