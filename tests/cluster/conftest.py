import os

import pytest

from .slurm import SlurmCluster, SlurmUnavailable, install


@pytest.fixture(scope='session')
def slurm_cluster(tmp_path_factory):
    """A running single-node Slurm cluster (installed first where missing: root and apt-get);
    SLURM_CONF points every client command at it. Skips, with the reason, where Slurm cannot
    be installed or started here."""
    try:
        install()
        cluster = SlurmCluster(tmp_path_factory.mktemp('slurm')).start()
    except SlurmUnavailable as exc:
        pytest.skip(str(exc))
    previous = os.environ.get('SLURM_CONF')
    os.environ['SLURM_CONF'] = str(cluster.conf)
    yield cluster
    cluster.stop()
    if previous is None:
        os.environ.pop('SLURM_CONF', None)
    else:
        os.environ['SLURM_CONF'] = previous
