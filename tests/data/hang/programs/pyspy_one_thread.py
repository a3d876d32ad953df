"""One thread (threading never imported: py-spy names it null), asleep three calls deep."""

import time


def wait_for_data():
    time.sleep(600)


def data_step():
    wait_for_data()


def main():
    data_step()


if __name__ == "__main__":
    main()
