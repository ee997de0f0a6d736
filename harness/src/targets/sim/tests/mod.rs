//! Tests of the reference device against a scripted cloud, on a paused clock.

mod business;
mod business_day;
mod cloud;
mod faults;
mod interop;
mod lifecycle;
mod robustness;
mod variants;
