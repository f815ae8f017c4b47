//! Response manipulation and merging: pure functions over decoded documents.
