//! Behaviour tests, compiled as one binary.

mod registry;
mod support;
