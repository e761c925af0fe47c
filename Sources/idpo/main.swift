print("idpo")
