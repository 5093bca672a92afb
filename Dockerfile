# The image compose.yaml runs: Trainboard with the CPU build of PyTorch. For GPU workers, start from an
# image with CUDA and install the PyTorch build that fits it instead (README.md, "Set up").
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt ./
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY . .
RUN pip install -c constraints.txt -e .
EXPOSE 8000
CMD ["trainboard", "serve", "--host", "0.0.0.0", "--port", "8000"]
