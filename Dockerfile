# GPU image for the whole pipeline: the same pinned requirements as requirements.txt, plus ffmpeg.
#   docker build -t dfdc .
#   docker run --gpus all -v /data/dfdc:/data -v $PWD/artifacts:/app/artifacts dfdc python detect_faces_on_videos.py
FROM pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime

RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
# The base image's torch is replaced by the pinned one, so the image runs exactly what the tests ran.
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENV FFMPEG=/usr/bin/ffmpeg
CMD ["python", "predict.py", "--help"]
