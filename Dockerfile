# The code location image: this project, its anycost.yaml and Dagster's PostgreSQL and Kubernetes
# integrations. Dagster's Helm chart runs it as a user code deployment (deploy/helm/values.yaml)
# and starts each run in a pod of the same image.
#
#   docker build -t anycost-pipeline:0.1.0 .
FROM python:3.11-slim

WORKDIR /opt/anycost
# The package first, so editing anycost.yaml does not reinstall it.
COPY pyproject.toml README.md ./
COPY anycost_pipeline ./anycost_pipeline
RUN pip install --no-cache-dir ".[postgres,k8s,s3,ui]"

# What to read and where to send it. Replace anycost.yaml with your own (or mount one and point
# ANYCOST_CONFIG at it); sample_data/ is the built-in example it reads.
COPY anycost.yaml workspace.yaml ./
COPY sample_data ./sample_data
ENV ANYCOST_CONFIG=/opt/anycost/anycost.yaml

# A production deployment: the sample's `cloudzero.target: sandbox` is refused here (every month
# would say "sent" and nothing would reach CloudZero). Set `target: live` in your anycost.yaml,
# or ANYCOST_ALLOW_SANDBOX=1 to try the chart without CloudZero on purpose.
ENV ANYCOST_DEPLOYMENT=production

# An unprivileged user with a fixed uid, which deploy/helm/values.yaml names (runAsUser, and
# fsGroup so the storage volume mounted at /opt/anycost/.anycost is writable). It owns only what
# a run may write: the storage folder, `anycost run`'s dagster_home, and the chart's DAGSTER_HOME
# (/opt/dagster/dagster_home, where the chart mounts dagster.yaml); request bodies wait in /tmp.
RUN groupadd --gid 10001 anycost \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin anycost \
    && mkdir -p /opt/anycost/.anycost /opt/anycost/dagster_home /opt/dagster/dagster_home \
    && chown 10001:10001 /opt/anycost/.anycost /opt/anycost/dagster_home /opt/dagster/dagster_home
USER 10001:10001

EXPOSE 3030
# The same arguments as codeServerArgs in deploy/helm/values.yaml.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "anycost_pipeline.definitions"]
