//! Behaviour tests, compiled as one binary.

mod npm;
