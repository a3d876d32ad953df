"""The main thread in all_reduce <- train_step <- main, and a "heartbeat" thread."""

import threading
import time


def heartbeat():
    while True:
        time.sleep(600)


def all_reduce():
    time.sleep(600)


def train_step():
    all_reduce()


def main():
    threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
    train_step()


if __name__ == "__main__":
    main()
