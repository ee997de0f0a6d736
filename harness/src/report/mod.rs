//! Reports: views of the run for people (terminal) and machines (JUnit XML, JSON).
