from mirrorkit.sample_site import main

main()
