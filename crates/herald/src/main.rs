fn main() {
    println!("herald: the gateway is being assembled; see README.md");
}
