{
  # Builds the `forge` binary with nixpkgs' rustPlatform and offers a
  # development shell. See docs/architecture.md ("Building forge with Nix"):
  # this file cannot be evaluated on the machines forge is developed on (no
  # binary cache or GitHub there), so it is kept small enough to check by eye.
  description = "forge: a hermetic, sandboxed builder with a content-addressed store";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.package.version;
    in
    {
      packages = forAllSystems (pkgs: rec {
        forge = pkgs.rustPlatform.buildRustPackage {
          pname = "forge";
          inherit version;
          src = pkgs.lib.cleanSource ./.;
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [ "-p" "forge-cli" ];
          # The end-to-end tests need nix-store, user namespaces and a writable
          # store root, which Nix's build sandbox does not give; scripts/test
          # runs them outside Nix.
          doCheck = false;
          meta = {
            description = "Hermetic, sandboxed builds into a content-addressed store";
            mainProgram = "forge";
            platforms = pkgs.lib.platforms.linux;
          };
        };
        default = forge;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ cargo rustc clippy rustfmt cargo-nextest cargo-fuzz nix busybox ];
        };
      });
    };
}
