"""Places: French communes, postcodes and distances, from open data shipped in the repo."""
