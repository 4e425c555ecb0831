"""Differential testing: one client scenario under paho-mqtt and under ferromqtt."""
