//! creek-lake: file formats and object-store destinations of the lake sink.
