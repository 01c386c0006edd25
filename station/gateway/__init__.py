"""Reference PLC gateway: follows a station's verdict stream and drives the reject actuator."""
