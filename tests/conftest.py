import cnnfast


def pytest_report_header(config):
    """Say which cnnfast is under test: the installed one, with OpenMP on."""
    from cnnfast import _kernels

    openmp = "OpenMP on" if _kernels.openmp_enabled() else "OpenMP OFF"
    return f"cnnfast {cnnfast.__version__} from {cnnfast.__file__} ({openmp}, {cnnfast.get_num_threads()} threads)"
