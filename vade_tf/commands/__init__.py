"""The command-line programs, one module each, its ``main(argv)`` the entry point: ``train``
(vade-train), ``export`` (vade-export), ``experiment`` (vade-experiment) and ``predict``
(vade-predict); ``common`` holds what they share. Each checks its input before TensorFlow loads,
so a bad flag, config or file gets its one-line error at once."""
