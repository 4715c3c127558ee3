//! A component of an unrelated world (`other:thing/other@0.2.0`): Volley must refuse it and name
//! the missing exports and the unsupported import.

wit_bindgen::generate!({ path: "wit", world: "other" });

struct Other;

impl Guest for Other {
    fn run() -> String {
        other::thing::greeter::greet("volley")
    }
}

export!(Other);
