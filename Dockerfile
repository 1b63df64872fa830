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
RUN pip install --no-cache-dir ".[postgres,k8s,s3]"

# What to read and where to send it. Replace anycost.yaml with your own (or mount one and point
# ANYCOST_CONFIG at it); sample_data/ is the built-in example it reads.
COPY anycost.yaml workspace.yaml ./
COPY sample_data ./sample_data
ENV ANYCOST_CONFIG=/opt/anycost/anycost.yaml

EXPOSE 3030
# The same arguments as codeServerArgs in deploy/helm/values.yaml.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "anycost_pipeline.definitions"]
